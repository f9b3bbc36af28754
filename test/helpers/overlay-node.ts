// A test node as its own OS process: a Cluster on 127.0.0.1 plus the Overlay service on a client port.
// Usage: node --import tsx test/helpers/overlay-node.ts '<json NodeProcessConfig>'. Prints the line
// {"loaded":true} once its code is loaded, then one JSON line {"id","peerPort","clientPort"} once ready;
// stops on SIGTERM, or when its parent closes stdin. With `held`, it waits after loading for one line on
// stdin, a JSON object whose fields (e.g. the seed) are added to the config, before it starts.
import { Server, ServerCredentials } from "@grpc/grpc-js";
import { NodeId } from "../../src/routing/id.js";
import { Cluster } from "../../src/server/cluster.js";
import { Node } from "../../src/server/node.js";
import {
  addOverlayService,
  overlayServerOptions,
  type OverlayLimits,
} from "../../src/server/overlay/index.js";

export interface NodeProcessConfig {
  /** The node ID is NodeId.fromString(name). */
  readonly name: string;
  /** "127.0.0.1:port" of a node to join; none founds a new ring. */
  readonly seed?: string;
  readonly peerPort?: number;
  readonly clientPort?: number;
  readonly token?: string;
  readonly limits?: Partial<OverlayLimits>;
  /** The routing core's leaf-set size (8 when not given). */
  readonly leafSetSize?: number;
  /** The hop limit this node gives the messages it sends (the core's default when not given). */
  readonly maxHops?: number;
  /** Load, then wait for the rest of the config on stdin before starting (see the usage above). */
  readonly held?: boolean;
}

// The imports above are evaluated: what follows is the node's own work (bind, listen, join).
process.stdout.write(JSON.stringify({ loaded: true }) + "\n");

/** The first line on `stream`; what follows stays unread. Rejects if the stream ends first (parent gone). */
function firstLine(stream: NodeJS.ReadStream): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = "";
    const onEnd = (): void => reject(new Error("stdin closed before the start line"));
    const onData = (chunk: Buffer): void => {
      text += chunk.toString("utf8");
      const end = text.indexOf("\n");
      if (end < 0) return;
      stream.off("data", onData);
      stream.off("end", onEnd);
      stream.pause();
      resolve(text.slice(0, end));
    };
    stream.on("data", onData);
    stream.once("end", onEnd);
  });
}

const given = JSON.parse(process.argv[2] ?? "{}") as NodeProcessConfig;
const config: NodeProcessConfig =
  given.held === true ? { ...given, ...(JSON.parse(await firstLine(process.stdin)) as object) } : given;

const cluster = new Cluster(
  new Node({ id: NodeId.fromString(config.name), localAddress: "127.0.0.1", port: config.peerPort ?? 0 }),
  undefined,
  {
    bindHost: "127.0.0.1",
    routing: {
      leafSetSize: config.leafSetSize ?? 8,
      heartbeatIntervalMs: 200,
      failureTimeoutMs: 1000,
      ...(config.maxHops === undefined ? {} : { maxHops: config.maxHops }),
    },
  },
);
const server = new Server(overlayServerOptions(config.limits));
const overlay = addOverlayService(server, {
  cluster,
  ...(config.token === undefined ? {} : { token: config.token }),
  ...(config.limits === undefined ? {} : { limits: config.limits }),
  onError: (error) => process.stderr.write(`overlay error: ${error.message}\n`),
});
cluster.registerApplication({
  onError: (error) => process.stderr.write(`cluster error: ${error.message}\n`),
});

const clientPort = await new Promise<number>((resolve, reject) =>
  server.bindAsync(
    `127.0.0.1:${config.clientPort ?? 0}`,
    ServerCredentials.createInsecure(),
    (error, port) => (error ? reject(error) : resolve(port)),
  ),
);
await cluster.listen();
if (config.seed !== undefined) await cluster.join([config.seed]);

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  overlay.close();
  await cluster.stop(500);
  server.forceShutdown();
  process.exit(0);
}
process.on("SIGTERM", () => void stop());
process.stdin.on("end", () => void stop());
process.stdin.resume();

process.stdout.write(
  JSON.stringify({ id: cluster.info().id.hex, peerPort: cluster.node.port, clientPort }) + "\n",
);
