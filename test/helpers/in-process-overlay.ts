// One node in this process, alone in its ring (so it owns every key): a Cluster on 127.0.0.1 with the
// Overlay service on a client port of its own and a WendyClient on that port. The fixture of the tests of
// the client port's services.
import { Server, ServerCredentials } from "@grpc/grpc-js";
import { NodeId } from "../../src/routing/id.js";
import { Cluster } from "../../src/server/cluster.js";
import { Node } from "../../src/server/node.js";
import {
  addOverlayService,
  overlayServerOptions,
  type OverlayServiceHandle,
  type OverlayServiceOptions,
} from "../../src/server/overlay/index.js";
import { WendyClient } from "../../src/client/index.js";

export interface InProcessOverlay {
  readonly cluster: Cluster;
  readonly server: Server;
  readonly handle: OverlayServiceHandle;
  /** The client port, "127.0.0.1:<port>". */
  readonly address: string;
  readonly client: WendyClient;
  /** Closes the client and the service, stops the node and the server. */
  stop(): Promise<void>;
}

/** Starts the node named `name` (its ID is NodeId.fromString(name)); `service` is passed to addOverlayService. */
export async function startInProcessOverlay(
  name: string,
  service: Omit<OverlayServiceOptions, "cluster"> = {},
): Promise<InProcessOverlay> {
  const cluster = new Cluster(
    new Node({ id: NodeId.fromString(name), localAddress: "127.0.0.1" }),
    undefined,
    {
      bindHost: "127.0.0.1",
      ...(service.metrics === undefined ? {} : { metrics: service.metrics }),
    },
  );
  const server = new Server(overlayServerOptions());
  const handle = addOverlayService(server, { ...service, cluster });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (e, p) =>
      e ? reject(e) : resolve(p),
    ),
  );
  await cluster.listen();
  const address = `127.0.0.1:${port}`;
  const client = new WendyClient(address);
  return {
    cluster,
    server,
    handle,
    address,
    client,
    async stop() {
      client.close();
      handle.close();
      await cluster.stop(200);
      server.forceShutdown();
    },
  };
}
