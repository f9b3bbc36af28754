// Free TCP ports on 127.0.0.1 for daemons that must know each other's ports before they start (every node
// is given the same WENDY_JOIN), so they cannot each pick port 0.
//
// The ports come from below the kernel's ephemeral range, never from it. A port from the ephemeral range is
// free only until the kernel hands it out again: to a port-0 listener (a client or metrics port) or as the
// local port of an outgoing connection. Between the check here and a daemon's bind, or while a node restarts
// on its port, that happened: the daemon could not listen (EADDRINUSE on every restart), and a connection
// to the down node's address could even be given that address as its own and connect to itself.
import { readFileSync } from "node:fs";
import { createServer, type AddressInfo, type Server } from "node:net";

/** Linux's default ephemeral range, used where /proc does not say. */
const DEFAULT_EPHEMERAL_LOW = 32768;
/** The lowest port handed out: above the ports common services listen on by default. */
const LOWEST = 20000;
/** Candidates tried per port asked for before giving up (taken ones are skipped). */
const TRIES_PER_PORT = 50;

function ephemeralLow(): number {
  try {
    const [low] = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/);
    const value = Number(low);
    return Number.isInteger(value) && value > 0 ? value : DEFAULT_EPHEMERAL_LOW;
  } catch {
    return DEFAULT_EPHEMERAL_LOW;
  }
}

/**
 * The span ports are drawn from: below the ephemeral range, split between vitest's workers (VITEST_POOL_ID,
 * from 1) so that test files running side by side never draw the same port. `run` (the vitest process's ID,
 * shared by its workers) turns the slices, so that two test runs side by side (developers' worktrees) draw
 * from different slices too, most of the time. Undefined when the ephemeral range leaves no room below it.
 */
export function portSpan(low: number, poolId: string | undefined, run = 0): [number, number] | undefined {
  const top = low - 1;
  if (top - LOWEST < 1000) return undefined;
  const pool = Number(poolId);
  if (!Number.isInteger(pool) || pool < 1) return [LOWEST, top];
  const SLICES = 16;
  const width = Math.floor((top - LOWEST + 1) / SLICES);
  const first = LOWEST + ((pool - 1 + run) % SLICES) * width;
  return [first, first + width - 1];
}

function listen(port: number): Promise<Server | undefined> {
  const server = createServer();
  return new Promise((resolve) => {
    server.once("error", () => resolve(undefined));
    server.listen(port, "127.0.0.1", () => resolve(server));
  });
}

/** This process's span: below this machine's ephemeral range, in this vitest worker's slice. */
export function ownPortSpan(): [number, number] | undefined {
  return portSpan(ephemeralLow(), process.env.VITEST_POOL_ID, process.ppid);
}

export async function freePorts(count: number): Promise<number[]> {
  const servers: Server[] = [];
  const span = ownPortSpan();
  try {
    for (let tries = 0; servers.length < count && tries < count * TRIES_PER_PORT; tries++) {
      // Random within the span: a run started just after another reuses none of its ports (TIME_WAIT).
      const port = span === undefined ? 0 : span[0] + Math.floor(Math.random() * (span[1] - span[0] + 1));
      const server = await listen(port);
      if (server !== undefined) servers.push(server);
    }
    if (servers.length < count) throw new Error(`no ${count} free ports on 127.0.0.1 in ${String(span)}`);
    // All held open at once, so the ports are distinct.
    return servers.map((s) => (s.address() as AddressInfo).port);
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }
}
