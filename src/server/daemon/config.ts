// Turns the raw settings into a checked daemon configuration, exactly as docs/configuration.md specifies:
// every value validated at start, defaults applied, files read once. Any problem is a ConfigError naming
// the variable, where the value came from, and the value (never for secrets). Why it is a little above 600
// lines: it is the one place each setting is checked (the edge; nothing inside checks again), and several
// checks span settings (a client port off loopback needs a token and TLS; a node identity's certificate
// fixes the node ID; k against the leaf-set size; inbound limits against the payload limit); each reader
// below is a short function.
import { majority, maxReplicationFactor } from "../../kv/replica-set.js";
import { readFileSync } from "node:fs";
import { parseSecretKeys } from "../auth/secret-keys.js";
import { isIP } from "node:net";
import { NodeId } from "../../routing/id.js";
import { DEFAULT_ROUTING_CONFIG } from "../../routing/types.js";
import { leafSetSizeProblem, MAX_LEAF_SET_SIZE } from "../cluster/options.js";
import { DEFAULT_MAX_HELLOS_PER_SECOND_PER_SOURCE } from "../auth/hello-limiter.js";
import { SECRET_ADVICE, secretWeakness } from "../auth/secret-strength.js";
import { NODE_ID_URI_PREFIX, NODE_NAME_URI_PREFIX, nodeIdOfCertificateFile } from "../auth/node-identity.js";
import type { PeerTlsConfig } from "../auth/tls.js";
import { DEFAULT_OVERLAY_LIMITS } from "../overlay/limits.js";
import { defaultInboundLimits, type InboundLimits } from "../transport/inbound-limits.js";
import { DEFAULT_WIRE_LIMITS, grpcMessageSizeLimit } from "../../wire/limits.js";
import { ConfigError } from "./config-error.js";
import { socketPathProblem } from "./client-socket.js";
import { gatherSettings, type RawSetting, type RawSettings, type SettingSources } from "./sources.js";
import { VARIABLES } from "./variables.js";
import { asError } from "../../shared/as-error.js";

export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

export interface ClientTlsConfig {
  readonly certFile: string;
  readonly keyFile: string;
}

export interface DaemonConfig {
  readonly nodeId: NodeId;
  /**
   * How the ID was chosen: from WENDY_NODE_ID, from WENDY_NODE_NAME, drawn at random, or (per-node
   * identities, WENDY_TLS_NODE_IDENTITY) from the certificate.
   */
  readonly idSource: "id" | "name" | "random" | "certificate";
  readonly nodeName: string | undefined;
  readonly bindHost: string;
  readonly port: number;
  /** Explicit WENDY_LOCAL_ADDRESS; undefined means the default derived from the bind host and bound port. */
  readonly localAddress: HostPort | undefined;
  readonly globalAddress: HostPort | undefined;
  readonly region: string;
  /** Seeds as given ("host:port"), in order; empty: start a new ring. */
  readonly join: readonly string[];
  readonly clientHost: string;
  readonly clientPort: number;
  /**
   * WENDY_CLIENT_SOCKET: a Unix-domain socket on which the client services are served as well, for
   * applications in the same pod or on the same machine (client-socket.ts).
   */
  readonly clientSocket: string | undefined;
  /** The bearer token client calls must carry; with WENDY_CLIENT_TOKEN_FILE, its first line. */
  readonly clientToken: string | undefined;
  /** Tokens also accepted during a rotation (the token file's later lines). */
  readonly clientTokensAlso: readonly string[];
  /** WENDY_CLIENT_TOKEN_FILE: re-read when it changes on disk. */
  readonly clientTokenFile: string | undefined;
  /** TLS for the client port (server side only); required when it listens beyond loopback. */
  readonly clientTls: ClientTlsConfig | undefined;
  /** Serve Subscribe, Receive and WatchOwnership to clients off loopback (WENDY_CLIENT_REMOTE_SUBSCRIBE). */
  readonly clientRemoteSubscribe: boolean;
  readonly metricsHost: string;
  readonly metricsPort: number;
  /** This node's cluster key (the first of WENDY_SECRET / WENDY_SECRET_FILE). */
  readonly secret: string | undefined;
  /** Keys also accepted from peers during a rotation (the later lines; secret-keys.ts). */
  readonly secretAlso: readonly string[];
  /** WENDY_SECRET_FILE: re-read when it changes on disk, and the rotated keys used without a restart. */
  readonly secretFile: string | undefined;
  /** How often the secret, token and TLS files are checked besides file-system events; 0: never reloaded. */
  readonly reloadIntervalMs: number;
  readonly tls: PeerTlsConfig;
  /** WENDY_INSECURE: allow running without a secret, or a client port beyond loopback without TLS. */
  readonly insecure: boolean;
  readonly logLevel: LogLevel;
  readonly leafSetSize: number;
  readonly heartbeatIntervalMs: number;
  readonly failureTimeoutMs: number;
  readonly regionMultiplier: number;
  /** Routing-table maintenance interval; Infinity when WENDY_TABLE_MAINTENANCE_INTERVAL_MS is `off`. */
  readonly tableMaintenanceIntervalMs: number;
  readonly maxPayloadBytes: number;
  /** Limits before authentication, on the peer port (and streams and buffers on the client port too). */
  readonly inboundLimits: InboundLimits;
  readonly maxHellosPerSecond: number;
  /** Streaming calls open at once on the client port, all kinds together. */
  readonly clientMaxStreams: number;
  /** WENDY_CLIENT_MAX_QUEUED_BYTES: bytes held for clients on all client-port streams together. */
  readonly clientMaxQueuedBytes: number;
  readonly maxHellosPerSecondPerSource: number;
  readonly shutdownGraceMs: number;
  /** How long a delivery waits at this node for a subscriber to take it before it is refused. */
  readonly deliveryGraceMs: number;
  /** The replicated key-value store (kv.proto). */
  readonly kv: KvConfig;
  /** Unknown WENDY_* variables, to log as warnings. */
  readonly unknownEnv: readonly string[];
}

/** WENDY_KV_*: the key-value store's replication, bounds and repair pace. */
export interface KvConfig {
  readonly replicas: number;
  readonly writeQuorum: number;
  readonly readQuorum: number;
  readonly maxKeys: number;
  readonly maxBytes: number;
  readonly repairKeysPerSecond: number;
  readonly antiEntropyIntervalMs: number;
  readonly tombstoneGraceMs: number;
  /** A directory for a persistent copy of the records (WENDY_KV_DATA_DIR); unset: in memory only. */
  readonly dataDir: string | undefined;
}

/** Reads flags > environment > config file and checks everything. Throws ConfigError. */
export function loadConfig(sources: SettingSources): DaemonConfig {
  return resolveConfig(gatherSettings(sources));
}

const SECRET_VARIABLES = new Set(VARIABLES.filter((v) => v.secret).map((v) => v.env));

class Reader {
  constructor(private readonly settings: RawSettings) {}

  raw(env: string): RawSetting | undefined {
    return this.settings.values.get(env);
  }

  has(env: string): boolean {
    return this.settings.values.has(env);
  }

  fail(env: string, problem: string): never {
    const setting = this.raw(env);
    const from = setting === undefined || setting.origin === "environment" ? "" : ` (${setting.origin})`;
    const shown =
      setting === undefined
        ? ""
        : SECRET_VARIABLES.has(env)
          ? " (value hidden)"
          : ` ${JSON.stringify(setting.value)}`;
    throw new ConfigError(env, `invalid ${env}${from}:${shown} ${problem}`);
  }

  string(env: string, fallback: string): string {
    return this.raw(env)?.value ?? fallback;
  }

  optional(env: string): string | undefined {
    return this.raw(env)?.value;
  }

  host(env: string, fallback: string): string {
    const value = this.string(env, fallback);
    if (!isHost(value)) this.fail(env, "is not a host name or IP address");
    return value;
  }

  integer(env: string, fallback: number, min: number, max: number): number {
    const setting = this.raw(env);
    if (setting === undefined) return fallback;
    const text = setting.value.trim();
    const value = /^-?\d+$/.test(text) ? Number(text) : NaN;
    if (!Number.isSafeInteger(value) || value < min || value > max) {
      this.fail(env, `must be an integer in ${min}..${max}`);
    }
    return value;
  }

  port(env: string, fallback: number): number {
    return this.integer(env, fallback, 0, 65535);
  }

  positiveNumber(env: string, fallback: number): number {
    const setting = this.raw(env);
    if (setting === undefined) return fallback;
    const text = setting.value.trim();
    const value = /^\d+(\.\d+)?$/.test(text) ? Number(text) : NaN;
    if (!(Number.isFinite(value) && value > 0)) this.fail(env, "must be a positive number");
    return value;
  }

  /** An integer interval in min..max ms, or `off`: Infinity, the routing core's "never". */
  intervalOrOff(env: string, fallback: number, min: number, max: number): number {
    const setting = this.raw(env);
    if (setting === undefined) return fallback;
    const text = setting.value.trim();
    if (text === "off") return Number.POSITIVE_INFINITY;
    const value = /^-?\d+$/.test(text) ? Number(text) : NaN;
    if (!Number.isSafeInteger(value) || value < min || value > max) {
      this.fail(env, `must be an integer in ${min}..${max} (milliseconds), or off for never`);
    }
    return value;
  }

  boolean(env: string, fallback: boolean): boolean {
    const setting = this.raw(env);
    if (setting === undefined) return fallback;
    if (setting.value === "true") return true;
    if (setting.value === "false") return false;
    return this.fail(env, "must be true or false");
  }

  address(env: string): HostPort | undefined {
    const setting = this.raw(env);
    if (setting === undefined) return undefined;
    const parsed = parseHostPort(setting.value.trim());
    if (parsed === undefined || parsed.port === 0)
      this.fail(env, "must be host:port with a port in 1..65535");
    return parsed;
  }

  /** The contents of a file named by `env`; a missing or unreadable file is a start error. */
  file(env: string): string | undefined {
    const path = this.optional(env);
    if (path === undefined) return undefined;
    try {
      return readFileSync(path, "utf8");
    } catch (error) {
      const detail = error instanceof Error ? error.message.split("\n")[0] : String(error);
      return this.fail(env, `cannot read the file: ${detail}`);
    }
  }
}

export function resolveConfig(settings: RawSettings): DaemonConfig {
  const r: Reader = new Reader(settings);

  const nodeName = r.optional("WENDY_NODE_NAME");
  const idHex = r.optional("WENDY_NODE_ID");
  let nodeId: NodeId;
  let idSource: DaemonConfig["idSource"];
  if (idHex !== undefined) {
    if (!/^[0-9a-fA-F]{32}$/.test(idHex)) r.fail("WENDY_NODE_ID", "must be exactly 32 hex digits");
    nodeId = NodeId.fromHex(idHex);
    idSource = "id";
  } else if (nodeName !== undefined) {
    nodeId = NodeId.fromString(nodeName);
    idSource = "name";
  } else {
    nodeId = NodeId.fromHex(randomHex());
    idSource = "random";
  }

  const bindHost = r.host("WENDY_BIND_HOST", "0.0.0.0");
  const port = r.port("WENDY_PORT", 7070);
  const localAddress = r.address("WENDY_LOCAL_ADDRESS");
  const globalAddress = r.address("WENDY_GLOBAL_ADDRESS");
  // The runtime advertises the port it is bound to, so an address naming another port would mislead peers.
  for (const [env, address] of [
    ["WENDY_LOCAL_ADDRESS", localAddress],
    ["WENDY_GLOBAL_ADDRESS", globalAddress],
  ] as const) {
    if (address === undefined) continue;
    if (port === 0) r.fail(env, "cannot be set when WENDY_PORT is 0 (the port is only known once bound)");
    if (address.port !== port) r.fail(env, `must use the peer port WENDY_PORT=${port}`);
  }

  const region = readRegion(r);
  const join = readSeeds(r);

  const clientHost = r.host("WENDY_CLIENT_HOST", "127.0.0.1");
  const clientPort = r.port("WENDY_CLIENT_PORT", 7071);
  const clientSocket = r.optional("WENDY_CLIENT_SOCKET");
  if (clientSocket !== undefined) {
    const problem = socketPathProblem(clientSocket);
    if (problem !== undefined) r.fail("WENDY_CLIENT_SOCKET", problem);
  }
  const tokens = readClientTokens(r);
  const clientToken = tokens.keys[0];
  if (clientToken === undefined && !isLoopback(clientHost)) {
    r.fail(
      "WENDY_CLIENT_HOST",
      "is not a loopback address, so WENDY_CLIENT_TOKEN is required (the client port would be open to anyone)",
    );
  }
  const insecure = r.boolean("WENDY_INSECURE", false);
  const clientTls = readClientTls(r);
  if (clientTls === undefined && !insecure && !isLoopback(clientHost)) {
    r.fail(
      "WENDY_CLIENT_HOST",
      "is not a loopback address, so the client port needs TLS (WENDY_CLIENT_TLS_CERT_FILE and " +
        "WENDY_CLIENT_TLS_KEY_FILE): the bearer token would cross the network in clear " +
        "(WENDY_INSECURE=true accepts that)",
    );
  }
  const clientRemoteSubscribe = r.boolean("WENDY_CLIENT_REMOTE_SUBSCRIBE", false);
  const metricsHost = r.host("WENDY_METRICS_HOST", "0.0.0.0");
  const metricsPort = r.port("WENDY_METRICS_PORT", 9464);

  const secretKeys = readSecret(r);
  const secret = secretKeys.keys[0];
  if (secret === undefined && !insecure) {
    r.fail(
      "WENDY_SECRET",
      "is not set (nor WENDY_SECRET_FILE): without a cluster secret anyone who reaches the peer port can " +
        `join the ring and read its traffic; ${SECRET_ADVICE} (WENDY_INSECURE=true accepts an open ring)`,
    );
  }
  const tls = readTls(r);
  if (tls.enabled && tls.nodeIdentity === true) {
    // The certificate's node ID is the node's ID: the CA assigns IDs, no node picks its own.
    let certified: string | undefined;
    try {
      certified = nodeIdOfCertificateFile(tls.certFile);
    } catch (error) {
      r.fail("WENDY_TLS_CERT_FILE", `is not a readable certificate: ${asError(error).message}`);
    }
    if (certified === undefined)
      r.fail(
        "WENDY_TLS_CERT_FILE",
        `names no node: add one URI SAN ${NODE_ID_URI_PREFIX}<32 hex digits> or ${NODE_NAME_URI_PREFIX}<node name>`,
      );
    if (idSource === "random") {
      nodeId = NodeId.fromHex(certified);
      idSource = "certificate";
    } else if (nodeId.hex !== certified) {
      r.fail(
        idSource === "id" ? "WENDY_NODE_ID" : "WENDY_NODE_NAME",
        `gives node ID ${nodeId.hex} but the certificate names ${certified} (WENDY_TLS_NODE_IDENTITY): ` +
          "leave the ID to the certificate",
      );
    }
  }

  const logLevel = r.string("WENDY_LOG_LEVEL", "info");
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    r.fail("WENDY_LOG_LEVEL", `must be one of ${LOG_LEVELS.join(", ")}`);
  }
  // The protocol's defaults are the routing core's: one place decides them.
  const defaults = DEFAULT_ROUTING_CONFIG;
  const leafSetSize = r.integer("WENDY_LEAF_SET_SIZE", defaults.leafSetSize, 0, MAX_LEAF_SET_SIZE);
  const leafSetProblem = leafSetSizeProblem(leafSetSize);
  if (leafSetProblem !== undefined) r.fail("WENDY_LEAF_SET_SIZE", leafSetProblem);
  const heartbeatIntervalMs = r.integer(
    "WENDY_HEARTBEAT_INTERVAL_MS",
    defaults.heartbeatIntervalMs,
    1,
    3_600_000,
  );
  const failureTimeoutMs = r.integer("WENDY_FAILURE_TIMEOUT_MS", defaults.failureTimeoutMs, 1, 3_600_000);
  if (failureTimeoutMs <= heartbeatIntervalMs) {
    r.fail(
      r.has("WENDY_FAILURE_TIMEOUT_MS") ? "WENDY_FAILURE_TIMEOUT_MS" : "WENDY_HEARTBEAT_INTERVAL_MS",
      `the failure timeout (${failureTimeoutMs} ms) must be greater than the heartbeat interval (${heartbeatIntervalMs} ms)`,
    );
  }
  const regionMultiplier = r.positiveNumber("WENDY_REGION_MULTIPLIER", defaults.regionMultiplier);
  // At least a second, since each round fetches a whole row and may measure up to 15 nodes; at most a day,
  // beyond which `off` (never) says what is meant.
  const tableMaintenanceIntervalMs = r.intervalOrOff(
    "WENDY_TABLE_MAINTENANCE_INTERVAL_MS",
    defaults.tableMaintenanceIntervalMs,
    1000,
    86_400_000,
  );
  const maxPayloadBytes = r.integer("WENDY_MAX_PAYLOAD_BYTES", 4 * 1024 * 1024, 1, 1024 * 1024 * 1024);
  const shutdownGraceMs = r.integer("WENDY_SHUTDOWN_GRACE_MS", 10_000, 0, 3_600_000);
  const deliveryGraceMs = r.integer("WENDY_DELIVERY_GRACE_MS", 5000, 0, 3_600_000);
  const inboundLimits = readInboundLimits(r, maxPayloadBytes);
  const clientMaxStreams = r.integer("WENDY_CLIENT_MAX_STREAMS", 2048, 1, 1_000_000);
  const clientMaxQueuedBytes = r.integer(
    "WENDY_CLIENT_MAX_QUEUED_BYTES",
    DEFAULT_OVERLAY_LIMITS.maxQueuedBytes,
    maxPayloadBytes,
    Number.MAX_SAFE_INTEGER,
  );
  const maxHellosPerSecond = r.integer("WENDY_MAX_HELLOS_PER_SECOND", 500, 1, 1_000_000);
  const maxHellosPerSecondPerSource = r.integer(
    "WENDY_MAX_HELLOS_PER_SECOND_PER_SOURCE",
    DEFAULT_MAX_HELLOS_PER_SECOND_PER_SOURCE,
    1,
    1_000_000,
  );

  return {
    nodeId,
    idSource,
    nodeName,
    bindHost,
    port,
    localAddress,
    globalAddress,
    region,
    join,
    clientHost,
    clientPort,
    clientSocket,
    clientToken,
    clientTokensAlso: tokens.keys.slice(1),
    clientTokenFile: tokens.file,
    clientTls,
    clientRemoteSubscribe,
    metricsHost,
    metricsPort,
    secret,
    secretAlso: secretKeys.keys.slice(1),
    secretFile: secretKeys.file,
    reloadIntervalMs: r.integer("WENDY_TLS_RELOAD_INTERVAL_MS", 60_000, 0, 86_400_000),
    tls,
    insecure,
    logLevel: logLevel as LogLevel,
    leafSetSize,
    heartbeatIntervalMs,
    failureTimeoutMs,
    regionMultiplier,
    tableMaintenanceIntervalMs,
    maxPayloadBytes,
    inboundLimits,
    maxHellosPerSecond,
    maxHellosPerSecondPerSource,
    clientMaxStreams,
    clientMaxQueuedBytes,
    shutdownGraceMs,
    deliveryGraceMs,
    kv: readKvConfig(r, leafSetSize),
    unknownEnv: settings.unknownEnv,
  };
}

function readKvConfig(r: Reader, leafSetSize: number): KvConfig {
  const maxReplicas = maxReplicationFactor(leafSetSize);
  const replicas = r.integer("WENDY_KV_REPLICAS", Math.min(3, maxReplicas), 1, maxReplicas);
  return {
    replicas,
    writeQuorum: r.integer("WENDY_KV_WRITE_QUORUM", majority(replicas), 1, replicas),
    readQuorum: r.integer("WENDY_KV_READ_QUORUM", majority(replicas), 1, replicas),
    maxKeys: r.integer("WENDY_KV_MAX_KEYS", 100_000, 1, 100_000_000),
    maxBytes: r.integer("WENDY_KV_MAX_BYTES", 256 * 1024 * 1024, 1024, 1024 * 1024 * 1024 * 1024),
    repairKeysPerSecond: r.integer("WENDY_KV_REPAIR_RATE", 2000, 10, 1_000_000),
    antiEntropyIntervalMs: r.integer("WENDY_KV_ANTI_ENTROPY_MS", 1000, 100, 3_600_000),
    tombstoneGraceMs: r.integer("WENDY_KV_TOMBSTONE_GRACE_MS", 3_600_000, 1000, 30 * 86_400_000),
    dataDir: r.optional("WENDY_KV_DATA_DIR"),
  };
}

function readInboundLimits(r: Reader, maxPayloadBytes: number): InboundLimits {
  const messageBytes = grpcMessageSizeLimit({ ...DEFAULT_WIRE_LIMITS, maxPayloadBytes });
  const defaults = defaultInboundLimits(messageBytes);
  const gib = 1024 * 1024 * 1024;
  const limits: InboundLimits = {
    maxConcurrentStreams: r.integer(
      "WENDY_MAX_CONCURRENT_STREAMS",
      defaults.maxConcurrentStreams,
      1,
      100_000,
    ),
    maxBufferedBytesPerConnection: r.integer(
      "WENDY_MAX_BUFFERED_BYTES_PER_CONNECTION",
      defaults.maxBufferedBytesPerConnection,
      1,
      64 * gib,
    ),
    maxBufferedBytes: r.integer("WENDY_MAX_BUFFERED_BYTES", defaults.maxBufferedBytes, 1, 64 * gib),
    incompleteRequestTimeoutMs: r.integer(
      "WENDY_INCOMPLETE_REQUEST_TIMEOUT_MS",
      defaults.incompleteRequestTimeoutMs,
      100,
      3_600_000,
    ),
    handshakeTimeoutMs: r.integer("WENDY_HANDSHAKE_TIMEOUT_MS", defaults.handshakeTimeoutMs, 100, 600_000),
  };
  if (limits.maxBufferedBytesPerConnection < messageBytes)
    r.fail(
      "WENDY_MAX_BUFFERED_BYTES_PER_CONNECTION",
      `must hold one whole message: at least ${messageBytes} bytes with WENDY_MAX_PAYLOAD_BYTES=${maxPayloadBytes}`,
    );
  if (limits.maxBufferedBytes < limits.maxBufferedBytesPerConnection)
    r.fail(
      r.has("WENDY_MAX_BUFFERED_BYTES")
        ? "WENDY_MAX_BUFFERED_BYTES"
        : "WENDY_MAX_BUFFERED_BYTES_PER_CONNECTION",
      `the total (${limits.maxBufferedBytes}) must be at least the per-connection limit (${limits.maxBufferedBytesPerConnection})`,
    );
  return limits;
}

function readRegion(r: Reader): string {
  const direct = r.optional("WENDY_REGION");
  if (direct !== undefined) {
    if (direct.trim() === "") r.fail("WENDY_REGION", "must not be blank");
    return direct.trim();
  }
  const fromFile = r.file("WENDY_REGION_FILE");
  if (fromFile === undefined) return "default";
  return fromFile.trim() || "default";
}

function readSeeds(r: Reader): string[] {
  const text = r.optional("WENDY_JOIN");
  if (text === undefined) return [];
  const seeds = text
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
  for (const seed of seeds) {
    const parsed = parseHostPort(seed);
    if (parsed === undefined || parsed.port === 0) {
      r.fail("WENDY_JOIN", `entry ${JSON.stringify(seed)} is not host:port with a port in 1..65535`);
    }
  }
  return seeds;
}

/** Keys or tokens, one a line, the one in use first; `file` set when they came from a file. */
interface KeyLines {
  readonly keys: readonly string[];
  readonly file: string | undefined;
}

function readSecret(r: Reader): KeyLines {
  if (r.has("WENDY_SECRET") && r.has("WENDY_SECRET_FILE")) {
    r.fail("WENDY_SECRET_FILE", "cannot be set together with WENDY_SECRET: set only one");
  }
  const direct = r.optional("WENDY_SECRET");
  if (direct !== undefined) return { keys: [strongSecret(r, "WENDY_SECRET", direct)], file: undefined };
  const fromFile = r.file("WENDY_SECRET_FILE");
  if (fromFile === undefined) return { keys: [], file: undefined };
  if (fromFile.trim() === "") r.fail("WENDY_SECRET_FILE", "the file holds an empty secret");
  try {
    return { keys: parseSecretKeys(fromFile), file: r.optional("WENDY_SECRET_FILE") };
  } catch (error) {
    return r.fail("WENDY_SECRET_FILE", `the file's ${asError(error).message}`);
  }
}

/** WENDY_CLIENT_TOKEN, or the tokens of WENDY_CLIENT_TOKEN_FILE (one a line: the rotation window's). */
function readClientTokens(r: Reader): KeyLines {
  if (r.has("WENDY_CLIENT_TOKEN") && r.has("WENDY_CLIENT_TOKEN_FILE"))
    r.fail("WENDY_CLIENT_TOKEN_FILE", "cannot be set together with WENDY_CLIENT_TOKEN: set only one");
  const direct = r.optional("WENDY_CLIENT_TOKEN");
  if (direct !== undefined) return { keys: [direct], file: undefined };
  const fromFile = r.file("WENDY_CLIENT_TOKEN_FILE");
  if (fromFile === undefined) return { keys: [], file: undefined };
  const keys = tokenLines(fromFile);
  if (keys.length === 0) r.fail("WENDY_CLIENT_TOKEN_FILE", "the file holds no token");
  return { keys, file: r.optional("WENDY_CLIENT_TOKEN_FILE") };
}

/** The tokens of a token file: one a line, blank lines and surrounding spaces ignored. */
export function tokenLines(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== "");
}

/** The secret keys every handshake, so one a dictionary holds could be recovered from a captured Hello. */
function strongSecret(r: Reader, env: string, secret: string): string {
  const weakness = secretWeakness(secret);
  if (weakness !== undefined) r.fail(env, `is too weak: ${weakness}; ${SECRET_ADVICE}`);
  return secret;
}

function readClientTls(r: Reader): ClientTlsConfig | undefined {
  const certFile = r.optional("WENDY_CLIENT_TLS_CERT_FILE");
  const keyFile = r.optional("WENDY_CLIENT_TLS_KEY_FILE");
  if (certFile === undefined && keyFile === undefined) return undefined;
  if (certFile === undefined)
    r.fail("WENDY_CLIENT_TLS_CERT_FILE", "is required when WENDY_CLIENT_TLS_KEY_FILE is set");
  if (keyFile === undefined)
    r.fail("WENDY_CLIENT_TLS_KEY_FILE", "is required when WENDY_CLIENT_TLS_CERT_FILE is set");
  for (const env of ["WENDY_CLIENT_TLS_CERT_FILE", "WENDY_CLIENT_TLS_KEY_FILE"]) {
    const contents = r.file(env) ?? "";
    if (!contents.includes("-----BEGIN")) r.fail(env, "the file holds no PEM data");
  }
  return { certFile, keyFile };
}

function readTls(r: Reader): PeerTlsConfig {
  const certFile = r.optional("WENDY_TLS_CERT_FILE");
  const keyFile = r.optional("WENDY_TLS_KEY_FILE");
  const caFile = r.optional("WENDY_TLS_CA_FILE");
  const mutual = r.boolean("WENDY_TLS_MUTUAL", false);
  if (certFile === undefined && keyFile === undefined) {
    if (caFile !== undefined)
      r.fail(
        "WENDY_TLS_CA_FILE",
        "is set but TLS is off: set WENDY_TLS_CERT_FILE and WENDY_TLS_KEY_FILE too",
      );
    if (mutual)
      r.fail("WENDY_TLS_MUTUAL", "is true but TLS is off: set WENDY_TLS_CERT_FILE and WENDY_TLS_KEY_FILE");
    if (r.boolean("WENDY_TLS_NODE_IDENTITY", false))
      r.fail("WENDY_TLS_NODE_IDENTITY", "is true but TLS is off: identities are proven by certificates");
    return { enabled: false };
  }
  if (certFile === undefined) r.fail("WENDY_TLS_CERT_FILE", "is required when WENDY_TLS_KEY_FILE is set");
  if (keyFile === undefined) r.fail("WENDY_TLS_KEY_FILE", "is required when WENDY_TLS_CERT_FILE is set");
  if (caFile === undefined) r.fail("WENDY_TLS_CA_FILE", "is required when TLS is on");
  for (const env of ["WENDY_TLS_CERT_FILE", "WENDY_TLS_KEY_FILE", "WENDY_TLS_CA_FILE"]) {
    const contents = r.file(env) ?? "";
    if (!contents.includes("-----BEGIN")) r.fail(env, "the file holds no PEM data");
  }
  // cert-manager renews well before expiry; a minute's delay in picking the files up is harmless.
  const reloadIntervalMs = r.integer("WENDY_TLS_RELOAD_INTERVAL_MS", 60_000, 0, 86_400_000);
  const nodeIdentity = r.boolean("WENDY_TLS_NODE_IDENTITY", false);
  if (nodeIdentity && !mutual)
    r.fail(
      "WENDY_TLS_NODE_IDENTITY",
      "needs WENDY_TLS_MUTUAL=true: identities are proven by client certificates",
    );
  return { enabled: true, certFile, keyFile, caFile, mutual, reloadIntervalMs, nodeIdentity };
}

/** "host:port" or "[v6]:port"; undefined when malformed. */
export function parseHostPort(text: string): HostPort | undefined {
  const match = /^\[([^\]]+)\]:(\d{1,5})$/.exec(text) ?? /^([^:[\]]+):(\d{1,5})$/.exec(text);
  if (match === null) return undefined;
  const host = match[1]!;
  const port = Number(match[2]);
  if (!isHost(host) || port > 65535) return undefined;
  return { host, port };
}

function isHost(value: string): boolean {
  if (isIP(value) !== 0) return true;
  return /^[A-Za-z0-9]([A-Za-z0-9_-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9_-]*[A-Za-z0-9])?)*\.?$/.test(
    value,
  );
}

export function isLoopback(host: string): boolean {
  const h = host.toLowerCase();
  return h === "localhost" || h === "::1" || (isIP(h) === 4 && h.startsWith("127."));
}

function randomHex(): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join(
    "",
  );
}
