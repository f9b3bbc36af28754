// grpc-js keeps channelz statistics for every channel that does not turn them off, at a cost per message;
// Wendy serves no channelz. Its registry is per process, so the channels of nodes and clients running in
// this process are all it can list. (Servers keep channelz: see src/wire/channel-options.ts.)
import { getChannelzHandlers, Server, ServerCredentials } from "@grpc/grpc-js";
import { afterAll, describe, expect, it } from "vitest";
import { WendyClient } from "../../src/client/index.js";
import { NodeId } from "../../src/routing/id.js";
import { PassphraseCredentials } from "../../src/server/auth/credentials.js";
import { Cluster } from "../../src/server/cluster.js";
import { WendyMetrics } from "../../src/server/metrics/metrics.js";
import { Node } from "../../src/server/node.js";
import { addOverlayService, overlayServerOptions } from "../../src/server/overlay/index.js";
import { testSecret } from "../helpers/secrets.js";
import { waitFor } from "../helpers/wait.js";

const credentials = new PassphraseCredentials(testSecret("channelz-test"), { N: 1024, r: 8, p: 1 });
const running: Cluster[] = [];
const servers: Server[] = [];
const clients: WendyClient[] = [];

afterAll(async () => {
  for (const c of clients) c.close();
  for (const s of servers) s.forceShutdown();
  await Promise.all(running.map((c) => c.kill()));
});

async function start(name: string): Promise<Cluster> {
  const cluster = new Cluster(
    new Node({ id: NodeId.fromString(name), localAddress: "127.0.0.1", port: 0 }),
    credentials,
    { bindHost: "127.0.0.1" },
  );
  running.push(cluster);
  await cluster.listen();
  return cluster;
}

/** Answers one channelz listing through the handlers grpc-js exports (no server needed). */
function listing(method: "GetTopChannels"): Promise<Record<string, unknown[]>> {
  const handler = getChannelzHandlers()[method] as unknown as (
    call: { request: Record<string, string> },
    callback: (error: Error | null, answer: Record<string, unknown[]>) => void,
  ) => void;
  return new Promise((resolve, reject) =>
    handler({ request: { start_channel_id: "0", max_results: "100" } }, (e, answer) =>
      e ? reject(e) : resolve(answer),
    ),
  );
}

describe("channelz", () => {
  it("lists no channel of two joined nodes or of a WendyClient that used one of them", async () => {
    const a = await start("channelz-a");
    const b = await start("channelz-b");
    await b.join("127.0.0.1", a.node.port);
    const metrics = new WendyMetrics({ nodeId: b.node.id.hex, version: "test", processMetrics: false });
    const server = new Server(overlayServerOptions());
    servers.push(server);
    addOverlayService(server, { cluster: b, metrics });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (e, p) =>
        e ? reject(e) : resolve(p),
      ),
    );
    const client = new WendyClient(`127.0.0.1:${port}`);
    clients.push(client);
    // The join opened the peer channels both ways; the lookup used the client's channel and port.
    const owner = await waitFor("b to know a", async () => {
      const info = await client.lookup(a.node.id.hex);
      return info.id.hex === a.node.id.hex ? info : undefined;
    });
    expect(owner.id.hex).toBe(a.node.id.hex);

    expect((await listing("GetTopChannels")).channel).toEqual([]);
  });
});
