import http2 from "node:http2";
import { it } from "vitest";
import { PeerServiceService } from "../../src/gen/wendy/v1/peer.js";
import { LOG_STARTED } from "../../src/server/daemon/daemon.js";
import { DaemonProcess } from "../../src/server/daemon/demo/daemon-process.js";
import { testSecret } from "../helpers/secrets.js";
import { frame, openSession, openStream, outcomeOf } from "./lib/raw-grpc.js";
it("dbg", async () => {
  const p = new DaemonProcess({
    name: "d",
    env: {
      WENDY_NODE_NAME: "d",
      WENDY_BIND_HOST: "127.0.0.86",
      WENDY_PORT: "0",
      WENDY_CLIENT_PORT: "0",
      WENDY_METRICS_HOST: "127.0.0.1",
      WENDY_METRICS_PORT: "0",
      WENDY_SECRET: testSecret("x"),
      WENDY_LOG_LEVEL: "debug",
      WENDY_INCOMPLETE_REQUEST_TIMEOUT_MS: "500",
    },
  });
  const line = await p.waitForLine((l) => l.msg === LOG_STARTED, 30_000, "started");
  const session = await openSession(`127.0.0.86:${String(line["peerPort"])}`);
  const stream = openStream(session, PeerServiceService.heartbeat.path);
  const outcome = outcomeOf(stream);
  stream.write(frame(Buffer.alloc(10), 100));
  console.log(await outcome, http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
  await new Promise((r) => setTimeout(r, 300));
  console.log(
    p.lines
      .filter((l) => l.level === 20)
      .map((l) => JSON.stringify(l))
      .join("\n"),
  );
  p.signal("SIGKILL");
  await p.exited;
}, 30000);
