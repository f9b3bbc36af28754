// Nothing is lost around a graceful leave. Real daemons; in each of 100 rounds one node gets SIGTERM in the
// middle of a burst of acknowledged sends, some to keys it owns. Every send must either be acknowledged by
// a node that no node up throughout the round is closer to the key than, or fail fast with a clear status:
// none may wait out its timeout. The leaving nodes take turns and start again on the same port under a new
// name (a new ID) while the others leave, so rounds do not wait for a process to start. Rounds overlap: a
// round's sends are judged while the next rounds run; only its SIGTERM waits for the previous leaver to
// have exited (it exits once its neighbours acknowledged its leave), so two leaves are not announced at once.
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { status } from "@grpc/grpc-js";
import { WendyClient, WendyClientError } from "../../src/client/index.js";
import { isCloser, NodeId } from "../../src/routing/id.js";
import { LOG_READY, LOG_STARTED } from "../../src/server/daemon/daemon.js";
import { DaemonProcess } from "../../src/server/daemon/demo/daemon-process.js";
import { freePorts } from "../../src/server/daemon/demo/free-ports.js";
import { testSecret } from "../helpers/secrets.js";

const ROUNDS = Number(process.env.LEAVE_BURST_ROUNDS ?? 100);
const STABLE = 4;
const LEAVERS = 5;
const SENDS_BEFORE = 4;
const SENDS_AFTER = 4;
/** The sends after the SIGTERM are spread over this window, in which the leave is being announced. */
const AFTER_SPACING_MS = 8;
const SEND_TIMEOUT_MS = 10_000;
/** A send that fails must fail well before its timeout: a lost message would wait it out. */
const FAIL_FAST_MS = SEND_TIMEOUT_MS / 2;
const PURPOSE = 20;
const READY_LIMIT_MS = 30_000;
const LOG_CANNOT_JOIN = "cannot join again: liveness now fails so that the node is restarted";
/** Debug logs trace every hop by message ID: a failure prints the route of each message it names. */
const LOG_LEVEL = process.env.LEAVE_BURST_LOG_LEVEL ?? "debug";

interface Member {
  /** The name (and so the ID) of its latest start: a fresh one at each start. */
  name: string;
  id: NodeId;
  starts: number;
  readonly port: number;
  process: DaemonProcess;
  /** Resolves once the latest start of this node is ready. */
  ready: Promise<void>;
  /** Started and ready, and not sent SIGTERM since. */
  up: boolean;
}

interface Outcome {
  readonly key: NodeId;
  readonly tookMs: number;
  readonly deliveredBy?: NodeId;
  readonly error?: WendyClientError | Error;
}

const members: Member[] = [];
let seeds = "";
const clients: WendyClient[] = [];

function launch(name: string, port: number): DaemonProcess {
  const logDir = process.env.LEAVE_BURST_LOG_DIR;
  return new DaemonProcess({
    name,
    // Every process's whole log, when asked for: LEAVE_BURST_LOG_DIR=/some/dir.
    ...(logDir === undefined ? {} : { logFile: join(logDir, `${name}.log`) }),
    env: {
      WENDY_NODE_NAME: name,
      WENDY_BIND_HOST: "127.0.0.1",
      WENDY_PORT: String(port),
      WENDY_CLIENT_PORT: "0",
      WENDY_METRICS_PORT: "0",
      WENDY_METRICS_HOST: "127.0.0.1",
      WENDY_SECRET: testSecret("leave-burst"),
      WENDY_JOIN: seeds,
      WENDY_LEAF_SET_SIZE: "4",
      // Only graceful leaves here: failure detection need not be quick, and on a loaded machine a short
      // timeout finds live nodes dead (then a node delivers what a falsely dead neighbour owns).
      WENDY_HEARTBEAT_INTERVAL_MS: "500",
      WENDY_FAILURE_TIMEOUT_MS: "3000",
      WENDY_SHUTDOWN_GRACE_MS: "5000",
      WENDY_LOG_LEVEL: LOG_LEVEL,
    },
  });
}

/** Every process started, exited ones too: their logs explain a failure. */
const launched: DaemonProcess[] = [];

/**
 * The log lines, from every process, that name a message of a failure (`message <id> within`), in time
 * order, with the lifecycle lines (leave, join, peers found dead) of the same span: what a failed run prints.
 */
function traceOf(failures: readonly string[]): string {
  const ids = new Set(failures.flatMap((f) => [...f.matchAll(/message (\S+) within/g)].map((m) => m[1]!)));
  if (ids.size === 0) return "";
  const traced = launched.flatMap((p) =>
    p.lines
      .filter((l) => typeof l.messageId === "string" && ids.has(l.messageId))
      .map((l) => ({ node: p.name, time: Number(l.time), line: l })),
  );
  if (traced.length === 0) return `no log line names ${[...ids].join(", ")}`;
  const from = Math.min(...traced.map((t) => t.time)) - 1000;
  const to = Math.max(...traced.map((t) => t.time)) + 11_000;
  const lifecycle = launched.flatMap((p) =>
    p.lines
      .filter(
        (l) =>
          l.level !== undefined && Number(l.level) >= 30 && Number(l.time) >= from && Number(l.time) <= to,
      )
      .map((l) => ({ node: p.name, time: Number(l.time), line: l })),
  );
  return [...traced, ...lifecycle]
    .sort((a, b) => a.time - b.time)
    .map(({ node, time, line }) => {
      const { level: _level, time: _time, pid: _pid, hostname: _host, nodeId: _id, ...rest } = line;
      return `${time} ${node} ${JSON.stringify(rest)}`;
    })
    .join("\n");
}

let closing = false;
/** Restarts that were not ready in time (see start), reported with the result. */
const joinRestarts: string[] = [];
/** Restarts whose join was refused ("cannot join again"): none may be (a failure of this test). */
const joinRefused: string[] = [];

/**
 * Starts the node and resolves once it is ready. A restarted node that is not ready in time is killed and
 * started again, a few times at most, as a kubelet would, and reported (on a starved machine a start can
 * be slow). A node whose join is refused ("cannot join again") is a failure: a peer that still knew the
 * address from the previous process could reach it between its listen and its join, and make it a member
 * so that its own join was refused; a node that will join now refuses peers until it has.
 */
function start(member: Member, attempts = 3): Promise<void> {
  // Not after afterAll: a node killed there must not come back (and nothing waits for its start any more).
  if (closing) return Promise.resolve();
  // A fresh ID each time: the rounds are about the leave, not about a node coming back under its old ID.
  member.name = `${member.name.split("~")[0]}~${member.starts++}`;
  member.id = NodeId.fromString(member.name);
  const process = launch(member.name, member.port);
  launched.push(process);
  member.process = process;
  const application = acknowledgeDeliveries(process);
  application.catch(() => undefined);
  const outcome = Promise.race([
    process.waitForLine((l) => l.msg === LOG_READY, READY_LIMIT_MS, "").then(() => "ready" as const),
    process
      .waitForLine((l) => l.msg === LOG_CANNOT_JOIN, READY_LIMIT_MS, "")
      .then(() => "cannot join" as const),
  ]).catch(() => `not ready within ${READY_LIMIT_MS} ms` as const);
  member.ready = outcome.then(async (result) => {
    if (result === "ready") {
      // Up once its application is there too: an acked send needs one at the owner.
      await application;
      member.up = true;
      return;
    }
    if (result === "cannot join") joinRefused.push(member.name);
    joinRestarts.push(`${member.name}: ${result}`);
    if (attempts <= 1) throw new Error(`${member.name}: ${result}, and no restart left`);
    process.signal("SIGKILL");
    await process.exited;
    await start(member, attempts - 1);
  });
  // Whatever start is still pending when the test ends is killed by afterAll.
  member.ready.catch(() => undefined);
  return member.ready;
}

/**
 * The application at a node: a Receive subscription on its client port that acknowledges every delivery,
 * opened as soon as the process has started (before its join completes) and closed when it exits.
 * Resolves once the subscription is live.
 */
async function acknowledgeDeliveries(process: DaemonProcess): Promise<void> {
  const line = await process.waitForLine((l) => l.msg === LOG_STARTED, READY_LIMIT_MS, "started");
  const client = new WendyClient(`127.0.0.1:${String(line.clientPort)}`);
  const stream = client.receive([PURPOSE]);
  void process.exited.then(() => {
    stream.close();
    client.close();
  });
  void (async () => {
    for await (const delivery of stream) delivery.ack();
  })().catch(() => undefined);
  await stream.ready;
}

beforeAll(async () => {
  const ports = await freePorts(STABLE + LEAVERS);
  seeds = ports
    .slice(0, 2)
    .map((p) => `127.0.0.1:${p}`)
    .join(",");
  for (let i = 0; i < STABLE + LEAVERS; i++) {
    const name = `burst-${i}`;
    const member = { name, id: NodeId.fromString(name), port: ports[i]!, starts: 0 } as Member;
    start(member);
    members.push(member);
    if (i < STABLE) {
      const line = await member.process.waitForLine((l) => l.msg === LOG_STARTED, 30_000, "started");
      clients.push(new WendyClient(`127.0.0.1:${String(line.clientPort)}`));
    }
    await member.ready.catch((error: Error) => {
      throw new Error(`${error.message}\n${member.process.stderr.join("\n")}`);
    });
  }
}, 120_000);

afterAll(async () => {
  closing = true;
  for (const c of clients) c.close();
  for (const m of members) m.process.signal("SIGKILL");
  await Promise.all(members.map((m) => m.process.exited));
});

async function send(client: WendyClient, key: NodeId): Promise<Outcome> {
  const started = performance.now();
  try {
    const result = await client.send(key, PURPOSE, "burst", { waitForAck: true, timeoutMs: SEND_TIMEOUT_MS });
    return { key, tookMs: performance.now() - started, deliveredBy: result.deliveredBy?.id };
  } catch (error) {
    return { key, tookMs: performance.now() - started, error: error as Error };
  }
}

/** Keys the leaver owns (its ID and IDs just beside it) and keys anywhere. */
function keysFor(leaver: Member, n: number, round: number): NodeId[] {
  const ring = 1n << 128n;
  return Array.from({ length: n }, (_, i) =>
    i % 2 === 0
      ? NodeId.fromBigInt((leaver.id.value + BigInt(i - n / 2) * 1000n + ring) % ring)
      : NodeId.fromString(`burst-key-${round}-${i}`),
  );
}

/** Fires `keys` from the stable nodes' clients, `spacingMs` apart. */
function fire(keys: readonly NodeId[], spacingMs: number): Promise<Outcome>[] {
  return keys.map(
    (key, i) =>
      new Promise<Outcome>((resolve) => {
        setTimeout(() => resolve(send(clients[i % clients.length]!, key)), i * spacingMs);
      }),
  );
}

describe("a burst of sends around a graceful leave", () => {
  it(`${ROUNDS} rounds of ${SENDS_BEFORE + SENDS_AFTER} acknowledged sends around a SIGTERM: each acked by a node no node up throughout is closer to the key than, or failed fast with a clear status; no restart's join refused`, async () => {
    const failures: string[] = [];
    const exits: Promise<void>[] = [];
    const verdicts: Promise<void>[] = [];
    let acked = 0;
    let failedFast = 0;
    let slowestSend = 0;
    let slowestExit = 0;
    let previousExit: Promise<unknown> = Promise.resolve();
    for (let round = 0; round < ROUNDS; round++) {
      const leaver = members[STABLE + (round % LEAVERS)]!;
      await leaver.ready.catch((error: Error) => {
        throw new Error(
          `${error.message}: ${JSON.stringify(leaver.process.lines.slice(-30).map((l) => [l.msg, l.time, l.reason, l.err, l.peer]))}`,
        );
      });
      // The previous leaver has told its neighbours and exited: one leave announced at a time.
      await previousExit;
      // Up at the start of the round (ready, not leaving), except the one about to leave. Judged once the
      // round's sends settle, among those still up then under the same name: a node sent SIGTERM meanwhile
      // (by a later round), or restarting, may own keys or not.
      const upAtStart = members.filter((m) => m !== leaver && m.up).map((m) => ({ m, name: m.name }));
      const keys = keysFor(leaver, SENDS_BEFORE + SENDS_AFTER, round);
      const before = fire(keys.slice(0, SENDS_BEFORE), 2);
      await new Promise((r) => setTimeout(r, 10));
      const exitStarted = performance.now();
      leaver.up = false;
      const process = leaver.process;
      process.signal("SIGTERM");
      const after = fire(keys.slice(SENDS_BEFORE), AFTER_SPACING_MS);
      // The next round does not wait for this restart, nor for these sends.
      const exit = process.exited.then((status) => {
        slowestExit = Math.max(slowestExit, performance.now() - exitStarted);
        if (status.code !== 0)
          failures.push(`round ${round}: ${leaver.name} exited with ${JSON.stringify(status)}`);
      });
      exits.push(exit);
      previousExit = process.exited;
      // The restart's own promise, never this one: once afterAll has begun, start() starts nothing, and
      // `exit.then(() => leaver.ready)` then resolved with itself ("Chaining cycle detected for promise").
      leaver.ready = exit.then(() => start(leaver));
      leaver.ready.catch(() => undefined);
      verdicts.push(
        Promise.all([...before, ...after]).then((outcomes) => {
          const confirmed = upAtStart.filter(({ m, name }) => m.up && m.name === name).map(({ m }) => m);
          for (const o of outcomes) {
            slowestSend = Math.max(slowestSend, o.tookMs);
            if (o.error === undefined) {
              acked++;
              const by = o.deliveredBy;
              const closer = confirmed.find((m) => by !== undefined && isCloser(o.key, m.id, by));
              if (by === undefined || closer !== undefined) {
                failures.push(
                  `round ${round}: key ${o.key.hex} delivered by ${by?.hex} though ${closer?.name} is closer`,
                );
              }
            } else {
              const code = o.error instanceof WendyClientError ? o.error.code : undefined;
              if (code === undefined || code === status.DEADLINE_EXCEEDED || o.tookMs >= FAIL_FAST_MS) {
                failures.push(
                  `round ${round}: key ${o.key.hex} failed after ${Math.round(o.tookMs)} ms: ${o.error.message}`,
                );
              } else failedFast++;
            }
          }
        }),
      );
    }
    await Promise.all(verdicts);
    await Promise.all(exits);
    console.log(
      `leave-burst: ${ROUNDS} rounds, ${acked} acked, ${failedFast} failed fast (clear status), slowest send ${Math.round(slowestSend)} ms, slowest exit ${Math.round(slowestExit)} ms; restarts not ready in time: ${joinRestarts.length === 0 ? "none" : joinRestarts.join(", ")}`,
    );
    if (failures.length > 0) console.log(`leave-burst: the failed messages' logs:\n${traceOf(failures)}`);
    expect(failures).toEqual([]);
    expect(joinRefused).toEqual([]);
    expect(acked).toBeGreaterThan(ROUNDS * (SENDS_BEFORE + SENDS_AFTER) * 0.5);
  }, 600_000);
});
