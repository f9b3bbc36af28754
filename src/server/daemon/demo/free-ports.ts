// Free TCP ports on 127.0.0.1, chosen by the kernel. The demo needs the seeds' ports before the nodes
// start (every node is given the same WENDY_JOIN), so it cannot let each daemon pick port 0.
import { createServer, type AddressInfo, type Server } from "node:net";

export async function freePorts(count: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const server = createServer();
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(0, "127.0.0.1", () => resolve());
      });
    }
    // All held open at once, so the ports are distinct.
    return servers.map((s) => (s.address() as AddressInfo).port);
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }
}
