// Tiny TCP programs run inside a test network's namespaces, to check what the faults do to real packets.
import { spawn, type ChildProcess } from "node:child_process";
import { assertInsideSubnet, type TestNetwork } from "./netns.js";

/** An echo server inside node `i`'s namespace on `port`; lives at most `lifetimeMs`. */
export async function startEchoServer(
  net: TestNetwork,
  i: number,
  port: number,
  lifetimeMs = 60_000,
): Promise<ChildProcess> {
  const host = net.node(i).address;
  const program = `
    const server = require("node:net").createServer((s) => { s.on("error", () => {}); s.pipe(s); });
    server.listen(${port}, ${JSON.stringify(host)}, () => console.log("up"));
    setTimeout(() => process.exit(0), ${lifetimeMs});`;
  const child = spawn("ip", ["netns", "exec", net.node(i).ns, process.execPath, "-e", program], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout?.once("data", () => resolve());
    child.once("exit", (code) => reject(new Error(`echo server exited early (${code})`)));
  });
  return child;
}

/**
 * From node `from`'s namespace, opens a TCP connection to `target` and sends `rounds` one-byte pings,
 * each waiting for its echo. Resolves with the round-trip times in ms, or "unreachable" when no
 * connection or echo comes within `timeoutMs`.
 */
export async function tcpRoundTrips(
  net: TestNetwork,
  from: number,
  target: string,
  rounds = 1,
  timeoutMs = 2000,
): Promise<number[] | "unreachable"> {
  assertInsideSubnet(target);
  const [host, port] = target.split(":");
  const program = `
    const s = require("node:net").connect(${Number(port)}, ${JSON.stringify(host)});
    const rtts = []; let sent = 0; let t0 = 0;
    const fail = () => { console.log("unreachable"); process.exit(0); };
    const timer = setTimeout(fail, ${timeoutMs});
    const ping = () => { t0 = performance.now(); sent++; s.write("x"); };
    s.on("error", fail);
    s.on("connect", ping);
    s.on("data", (d) => {
      for (let k = 0; k < d.length; k++) rtts.push(performance.now() - t0);
      if (rtts.length >= ${rounds}) { clearTimeout(timer); console.log(JSON.stringify(rtts)); process.exit(0); }
      ping();
    });`;
  const child = spawn("ip", ["netns", "exec", net.node(from).ns, process.execPath, "-e", program], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  let out = "";
  child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
  await new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const line = out.trim();
  if (line === "unreachable" || line === "") return "unreachable";
  return JSON.parse(line) as number[];
}
