// `wendy send|subscribe|call|lookup|ownership|status|kv`: the client commands, mounted by the daemon's program.
import { Command, CommanderError, InvalidArgumentError as CommanderArgumentError, Option } from "commander";
import { NodeId } from "../routing/id.js";
import { FIRST_APPLICATION_PURPOSE, type NodeInfo } from "../routing/types.js";
import type { KeyLike } from "./convert.js";
import { WendyClientError } from "./errors.js";
import type { KvVersion, KvWriteResult } from "./kv-client.js";
import { applicationPurposeProblem, DEFAULT_WIRE_LIMITS } from "../wire/limits.js";
// Types only: the client itself is loaded when a client command runs, so that the daemon (`wendy start`, the
// same program) does not hold it.
import type { OwnershipUpdate, ReceivedDelivery, StatusResult } from "./client-types.js";
import type { WendyClient } from "./wendy-client.js";

export const DEFAULT_CLIENT_ADDRESS = "127.0.0.1:7071";
/** The node's purpose bound (the wire's), which the CLI checks before anything is sent. */
const MAX_PURPOSE = DEFAULT_WIRE_LIMITS.maxPurpose;

interface ConnectionFlags {
  readonly address: string;
  readonly token?: string;
}

interface KeyFlags {
  readonly hex?: boolean;
}

/** Adds the client commands to `program` (commander 12). */
export function registerClientCommands(program: Command): void {
  addSend(program);
  addSubscribe(program);
  addCall(program);
  addLookup(program);
  addOwnership(program);
  addStatus(program);
  addKv(program);
}

function addSend(program: Command): void {
  withConnection(program.command("send"))
    .description("route a message to the node that owns a key")
    .argument("<key>", "the key: a name (hashed like NodeId.fromString), or 32 hex digits with --hex")
    .argument("[payload]", "the payload, as UTF-8 text", "")
    .addOption(purposeOption())
    .option("--hex", "the key is a raw 128-bit ID in 32 hex digits")
    .option("--ack", "wait until an application at the key's owner acknowledged the message")
    .option(
      "--timeout <ms>",
      "with --ack: how long to wait for the acknowledgement",
      parseMillis("--timeout"),
    )
    .action(
      async (key: string, payload: string, flags: ConnectionFlags & KeyFlags & SendFlags, cmd: Command) =>
        run(cmd, flags, async (client) => {
          const result = await client.send(parseKey(cmd, key, flags), flags.purpose, payload, {
            waitForAck: flags.ack === true,
            timeoutMs: flags.timeout,
          });
          print({
            messageId: result.messageId,
            ...(result.deliveredBy ? { deliveredBy: nodeJson(result.deliveredBy), hops: result.hops } : {}),
          });
        }),
    );
}

interface SendFlags {
  readonly purpose: number;
  readonly ack?: boolean;
  readonly timeout?: number;
}

function addSubscribe(program: Command): void {
  withConnection(program.command("subscribe"))
    .description(
      "print the messages delivered to the node for some purposes, one JSON line each, acknowledging each " +
        "once printed (stderr says when the subscription is live)",
    )
    .requiredOption("--purpose <n...>", "purposes to receive (16..65535), one or more", collectPurposes, [])
    .option("--group <name>", "subscriber group: each message goes to one member of each group", "")
    .option("--copy-all", "receive a copy of every message instead, outside any group, without acknowledging")
    .option("--count <n>", "exit after this many messages", parsePositive("--count"))
    .option("--reply <text>", "answer every call with this text")
    .action(async (flags: ConnectionFlags & SubscribeFlags, cmd: Command) =>
      run(cmd, flags, async (client) => {
        if (flags.purpose.length === 0)
          cmd.error("error: option '--purpose <n...>' needs at least one purpose");
        if (flags.copyAll === true && flags.group !== "")
          cmd.error("error: --copy-all receives outside any group; drop --group");
        const stream = client.receive(flags.purpose, { group: flags.group, copyAll: flags.copyAll === true });
        void stream.ready.then(
          (node) => process.stderr.write(`subscribed at node ${node.id.hex}\n`),
          () => undefined,
        );
        let seen = 0;
        for await (const delivery of stream) {
          print(deliveryJson(delivery));
          // Printed: handled as far as this command goes. A call is acknowledged by its Reply.
          if (delivery.callId !== undefined && flags.reply !== undefined) {
            await client.reply(delivery.callId, flags.reply);
          } else {
            delivery.ack();
          }
          seen++;
          if (flags.count !== undefined && seen >= flags.count) break;
        }
      }),
    );
}

interface SubscribeFlags {
  readonly purpose: number[];
  readonly group: string;
  readonly copyAll?: boolean;
  readonly count?: number;
  readonly reply?: string;
}

function addCall(program: Command): void {
  withConnection(program.command("call"))
    .description("send a request to a key's owner and print a subscriber's answer")
    .argument("<key>", "the key: a name, or 32 hex digits with --hex")
    .argument("[payload]", "the request, as UTF-8 text", "")
    .addOption(purposeOption())
    .option("--hex", "the key is a raw 128-bit ID in 32 hex digits")
    .option(
      "--timeout <ms>",
      "how long the owner has to answer (default: the node's, 10 s)",
      parseMillis("--timeout"),
    )
    .action(
      async (key: string, payload: string, flags: ConnectionFlags & KeyFlags & CallFlags, cmd: Command) =>
        run(cmd, flags, async (client) => {
          const answer = await client.call(parseKey(cmd, key, flags), flags.purpose, payload, {
            timeoutMs: flags.timeout,
          });
          print({
            payload: Buffer.from(answer.payload).toString("utf8"),
            answeredBy: nodeJson(answer.answeredBy),
            hops: answer.hops,
          });
        }),
    );
}

interface CallFlags {
  readonly purpose: number;
  readonly timeout?: number;
}

function addLookup(program: Command): void {
  withConnection(program.command("lookup"))
    .description("print the live node that owns a key")
    .argument("<key>", "the key: a name, or 32 hex digits with --hex")
    .option("--hex", "the key is a raw 128-bit ID in 32 hex digits")
    .action(async (key: string, flags: ConnectionFlags & KeyFlags, cmd: Command) =>
      run(cmd, flags, async (client) => {
        const owner = await client.lookup(parseKey(cmd, key, flags));
        print({ key: keyHex(parseKey(cmd, key, flags)), owner: nodeJson(owner) });
      }),
    );
}

function addOwnership(program: Command): void {
  withConnection(program.command("ownership"))
    .description("print the key range the node owns, then each change to it, one JSON line each")
    .option("--count <n>", "exit after this many lines", parsePositive("--count"))
    .action(async (flags: ConnectionFlags & { count?: number }, cmd: Command) =>
      run(cmd, flags, async (client) => {
        let seen = 0;
        for await (const update of client.watchOwnership()) {
          print(ownershipJson(update));
          seen++;
          if (flags.count !== undefined && seen >= flags.count) break;
        }
      }),
    );
}

function ownershipJson(u: OwnershipUpdate): Record<string, unknown> {
  return {
    epoch: u.epoch.toString(),
    self: nodeJson(u.self),
    first: u.range.first.hex,
    last: u.range.last.hex,
    ...(u.left ? { left: nodeJson(u.left) } : {}),
    ...(u.right ? { right: nodeJson(u.right) } : {}),
    changes: u.changes.map((c) => ({
      kind: c.kind,
      first: c.range.first.hex,
      last: c.range.last.hex,
      neighbour: nodeJson(c.neighbour),
    })),
  };
}

function addStatus(program: Command): void {
  withConnection(program.command("status"))
    .description("show the node's leaf set and routing table")
    .option("--json", "print the status as JSON instead of tables")
    .action(async (flags: ConnectionFlags & { json?: boolean }, cmd: Command) =>
      run(cmd, flags, async (client) => {
        const s = await client.status();
        if (flags.json) print(statusJson(s));
        else process.stdout.write(statusTables(s));
      }),
    );
}

function addKv(program: Command): void {
  const kv = program
    .command("kv")
    .description("the replicated key-value store: put, get and delete values under keys");
  const keyArgument = "the key: a name (hashed like NodeId.fromString), or 32 hex digits with --hex";
  withConnection(kv.command("put"))
    .description("store a value under a key (acknowledged once W replicas stored it); prints its version")
    .argument("<key>", keyArgument)
    .argument("<value>", "the value, as UTF-8 text")
    .option("--hex", "the key is a raw 128-bit ID in 32 hex digits")
    .option(
      "--if-version <counter@writer>",
      "only if the key's version is this one (compare and set)",
      parseVersion,
    )
    .option("--if-absent", "only if the key holds no value")
    .option("--timeout <ms>", "how long the node waits for the write quorum", parseMillis("--timeout"))
    .action(async (key: string, value: string, flags: ConnectionFlags & KeyFlags & KvFlags, cmd: Command) =>
      run(cmd, flags, async (client) => {
        const written = await client.kv.put(parseKey(cmd, key, flags), value, {
          ifVersion: flags.ifVersion,
          ifAbsent: flags.ifAbsent === true,
          timeoutMs: flags.timeout,
        });
        print(writeJson(written));
      }),
    );
  withConnection(kv.command("get"))
    .description("print the value under a key and its version (exit status 1 when it holds none)")
    .argument("<key>", keyArgument)
    .option("--hex", "the key is a raw 128-bit ID in 32 hex digits")
    .option("--timeout <ms>", "how long the node waits for the read quorum", parseMillis("--timeout"))
    .action(async (key: string, flags: ConnectionFlags & KeyFlags & KvFlags, cmd: Command) =>
      run(cmd, flags, async (client) => {
        const parsed = parseKey(cmd, key, flags);
        const found = await client.kv.get(parsed, { timeoutMs: flags.timeout });
        if (found === undefined) cmd.error(`error: no value under key ${keyHex(parsed)}`, { exitCode: 1 });
        print({
          value: found.value.toString("utf8"),
          version: versionText(found.version),
          answers: found.answers,
          coordinator: nodeJson(found.coordinator),
        });
      }),
    );
  withConnection(kv.command("delete"))
    .description("delete the value under a key (a replicated tombstone); prints the tombstone's version")
    .argument("<key>", keyArgument)
    .option("--hex", "the key is a raw 128-bit ID in 32 hex digits")
    .option("--if-version <counter@writer>", "only if the key's version is this one", parseVersion)
    .option("--timeout <ms>", "how long the node waits for the write quorum", parseMillis("--timeout"))
    .action(async (key: string, flags: ConnectionFlags & KeyFlags & KvFlags, cmd: Command) =>
      run(cmd, flags, async (client) => {
        const deleted = await client.kv.delete(parseKey(cmd, key, flags), {
          ifVersion: flags.ifVersion,
          timeoutMs: flags.timeout,
        });
        print(writeJson(deleted));
      }),
    );
}

interface KvFlags {
  readonly ifVersion?: KvVersion;
  readonly ifAbsent?: boolean;
  readonly timeout?: number;
}

/** "<counter>@<writer hex>", as `kv put` and `kv get` print it. */
function parseVersion(value: string): KvVersion {
  const match = /^([1-9][0-9]{0,19})@([0-9a-fA-F]{32})$/.exec(value);
  if (match === null || BigInt(match[1] as string) >= 1n << 64n)
    throw new CommanderArgumentError("expected <counter>@<writer>: a counter of 1..2^64-1 and 32 hex digits");
  return { counter: BigInt(match[1] as string), writer: (match[2] as string).toLowerCase() };
}

function versionText(v: KvVersion): string {
  return `${v.counter}@${v.writer}`;
}

function writeJson(w: KvWriteResult): Record<string, unknown> {
  return {
    version: versionText(w.version),
    acknowledgements: w.acknowledgements,
    coordinator: nodeJson(w.coordinator),
  };
}

// ------------------------------------------------------------------------------------------ shared parts

function withConnection(command: Command): Command {
  return command
    .addOption(
      new Option("--address <host:port|unix:path>", "the node's client port, or its Unix socket")
        .default(DEFAULT_CLIENT_ADDRESS)
        .argParser(parseAddress),
    )
    .addOption(
      new Option("--token <token>", "bearer token, when the node requires one").env("WENDY_CLIENT_TOKEN"),
    );
}

function purposeOption(): Option {
  return new Option("--purpose <n>", `application purpose (${FIRST_APPLICATION_PURPOSE}..${MAX_PURPOSE})`)
    .default(FIRST_APPLICATION_PURPOSE)
    .argParser(parsePurpose);
}

async function run(
  cmd: Command,
  flags: ConnectionFlags,
  body: (client: WendyClient) => Promise<void>,
): Promise<void> {
  const { WendyClient: Client } = await import("./wendy-client.js");
  const client = new Client(flags.address, flags.token === undefined ? {} : { token: flags.token });
  try {
    await body(client);
  } catch (error) {
    // A usage error raised inside the command (e.g. a bad key) is the program's to report, unchanged.
    if (error instanceof CommanderError) throw error;
    const detail = error instanceof WendyClientError ? `${error.name}: ${error.message}` : String(error);
    cmd.error(`error: ${cmd.name()} via ${flags.address} failed: ${detail}`, { exitCode: 1 });
  } finally {
    client.close();
  }
}

/** The client port as host:port, or its Unix socket (WENDY_CLIENT_SOCKET) as unix:/path or unix:///path. */
function parseAddress(value: string): string {
  if (value.startsWith("unix:")) {
    if (!value.slice("unix:".length).replace(/^\/\//, "").startsWith("/")) {
      throw new CommanderArgumentError(
        "expected unix: followed by an absolute path, e.g. unix:/run/wendy.sock",
      );
    }
    return value;
  }
  const colon = value.lastIndexOf(":");
  const port = Number(value.slice(colon + 1));
  if (colon <= 0 || !/^[0-9]{1,5}$/.test(value.slice(colon + 1)) || port < 1 || port > 65535) {
    throw new CommanderArgumentError(
      `expected host:port with a port in 1..65535 (e.g. ${DEFAULT_CLIENT_ADDRESS}) or unix:/path/to/socket`,
    );
  }
  return value;
}

function parsePurpose(value: string): number {
  const n = Number(value);
  if (!/^[0-9]+$/.test(value) || applicationPurposeProblem(n, MAX_PURPOSE) !== undefined) {
    throw new CommanderArgumentError(
      `expected an integer in ${FIRST_APPLICATION_PURPOSE}..${MAX_PURPOSE} (0..15 are reserved for the protocol)`,
    );
  }
  return n;
}

function collectPurposes(value: string, previous: number[]): number[] {
  return [...previous, parsePurpose(value)];
}

function parseMillis(flag: string): (value: string) => number {
  return (value) => {
    if (!/^[0-9]+$/.test(value) || Number(value) < 1) {
      throw new CommanderArgumentError(`${flag} expects a positive number of milliseconds`);
    }
    return Number(value);
  };
}

function parsePositive(flag: string): (value: string) => number {
  return (value) => {
    if (!/^[0-9]+$/.test(value) || Number(value) < 1) {
      throw new CommanderArgumentError(`${flag} expects a positive integer`);
    }
    return Number(value);
  };
}

function parseKey(cmd: Command, key: string, flags: KeyFlags): KeyLike {
  if (!flags.hex) {
    if (key.length === 0) cmd.error("error: argument <key> must not be empty", { exitCode: 2 });
    return key;
  }
  if (!/^[0-9a-fA-F]{32}$/.test(key)) {
    cmd.error(`error: argument <key> with --hex must be exactly 32 hex digits, got ${JSON.stringify(key)}`, {
      exitCode: 2,
    });
  }
  return NodeId.fromHex(key);
}

function keyHex(key: KeyLike): string {
  if (key instanceof NodeId) return key.hex;
  if (typeof key === "string") return NodeId.fromString(key).hex;
  return NodeId.fromBytes(key).hex;
}

function print(value: unknown): void {
  process.stdout.write(JSON.stringify(value) + "\n");
}

function nodeJson(n: NodeInfo): Record<string, unknown> {
  return {
    id: n.id.hex,
    localAddress: n.localAddress,
    globalAddress: n.globalAddress,
    region: n.region,
    incarnation: n.incarnation,
  };
}

function deliveryJson(d: ReceivedDelivery): Record<string, unknown> {
  return {
    key: d.key.hex,
    purpose: d.purpose,
    payload: Buffer.from(d.payload).toString("utf8"),
    messageId: d.messageId,
    origin: nodeJson(d.origin),
    hops: d.hops,
    attempt: d.attempt,
    ...(d.callId === undefined ? {} : { callId: d.callId }),
  };
}

function statusJson(s: StatusResult): Record<string, unknown> {
  return {
    self: nodeJson(s.self),
    ready: s.ready,
    leafSetLeft: s.leafSetLeft.map(nodeJson),
    leafSetRight: s.leafSetRight.map(nodeJson),
    routingTable: s.routingTable.map((r) => ({ row: r.row, entries: r.entries.map(nodeJson) })),
    neighbourhood: s.neighbourhood.map(nodeJson),
    peerCount: s.peerCount,
    subscriberCount: s.subscriberCount,
    undeliveredNoSubscriber: s.undeliveredNoSubscriber.toString(),
  };
}

/** Human-readable tables: the node, its leaf set (left then right, nearest first), its routing table. */
export function statusTables(s: StatusResult): string {
  const lines: string[] = [
    `node       ${s.self.id.hex}  ${s.self.localAddress}  region=${s.self.region || "-"}`,
    `ready      ${s.ready ? "yes" : "no"}`,
    `peers      ${s.peerCount}   subscribers ${s.subscriberCount}   undelivered (no subscriber) ${s.undeliveredNoSubscriber}`,
    "",
    "LEAF SET",
    ...table(
      ["side", "#", "id", "address", "region"],
      [
        ...s.leafSetLeft.map((n, i) => ["left", String(i + 1), n.id.hex, n.localAddress, n.region || "-"]),
        ...s.leafSetRight.map((n, i) => ["right", String(i + 1), n.id.hex, n.localAddress, n.region || "-"]),
      ],
    ),
    "",
    "ROUTING TABLE",
    ...table(
      ["row", "digit", "id", "address"],
      s.routingTable.flatMap((r) =>
        r.entries.map((n) => [String(r.row), n.id.hex.charAt(r.row), n.id.hex, n.localAddress]),
      ),
    ),
  ];
  return lines.join("\n") + "\n";
}

function table(header: readonly string[], rows: readonly (readonly string[])[]): string[] {
  if (rows.length === 0) return ["(empty)"];
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] ?? "").length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, c) => cell.padEnd(widths[c] ?? 0))
      .join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)];
}
