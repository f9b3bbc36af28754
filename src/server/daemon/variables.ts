// The daemon's settings, one per WENDY_* variable of docs/configuration.md. Each setting can also come from
// a command-line flag (`--port`) or a config-file key (`port`), both derived from the variable's name.

export interface VariableSpec {
  /** The environment variable, e.g. WENDY_PORT. */
  readonly env: string;
  /** What the flag's value looks like in --help, e.g. "<port>". */
  readonly valueName: string;
  readonly description: string;
  /** Never printed in messages (the secret, the client token). */
  readonly secret?: boolean;
}

export const VARIABLES: readonly VariableSpec[] = [
  { env: "WENDY_NODE_NAME", valueName: "<name>", description: "stable name; the node ID is derived from it" },
  { env: "WENDY_NODE_ID", valueName: "<hex>", description: "node ID as 32 hex digits (wins over the name)" },
  { env: "WENDY_BIND_HOST", valueName: "<host>", description: "address of the peer gRPC server (0.0.0.0)" },
  { env: "WENDY_PORT", valueName: "<port>", description: "peer gRPC port (7070; 0 = any free port)" },
  { env: "WENDY_LOCAL_ADDRESS", valueName: "<host:port>", description: "address peers of this region dial" },
  {
    env: "WENDY_GLOBAL_ADDRESS",
    valueName: "<host:port>",
    description: "address peers of other regions dial",
  },
  { env: "WENDY_REGION", valueName: "<name>", description: "region name (default)" },
  { env: "WENDY_REGION_FILE", valueName: "<path>", description: "file holding the region name" },
  {
    env: "WENDY_JOIN",
    valueName: "<seeds>",
    description: "comma-separated host:port seeds; unset: new ring",
  },
  {
    env: "WENDY_CLIENT_HOST",
    valueName: "<host>",
    description: "address of the client gRPC server (127.0.0.1)",
  },
  { env: "WENDY_CLIENT_PORT", valueName: "<port>", description: "client gRPC port (7071)" },
  {
    env: "WENDY_CLIENT_SOCKET",
    valueName: "<path>",
    description: "also serve the client services on this Unix socket (for applications beside the node)",
  },
  {
    env: "WENDY_CLIENT_TOKEN",
    valueName: "<token>",
    description: "bearer token client calls must carry (required off loopback)",
    secret: true,
  },
  {
    env: "WENDY_CLIENT_TOKEN_FILE",
    valueName: "<path>",
    description: "file of the client token, one a line (old and new during a rotation); reloaded",
  },
  {
    env: "WENDY_CLIENT_TLS_CERT_FILE",
    valueName: "<path>",
    description: "PEM certificate for the client port (required off loopback)",
  },
  {
    env: "WENDY_CLIENT_TLS_KEY_FILE",
    valueName: "<path>",
    description: "PEM private key of that certificate",
  },
  {
    env: "WENDY_CLIENT_REMOTE_SUBSCRIBE",
    valueName: "<true|false>",
    description: "serve Subscribe, Receive and WatchOwnership off loopback too (false)",
  },
  {
    env: "WENDY_CLIENT_MAX_STREAMS",
    valueName: "<n>",
    description: "streaming client calls open at once, all kinds together (2048)",
  },
  {
    env: "WENDY_CLIENT_MAX_QUEUED_BYTES",
    valueName: "<bytes>",
    description: "bytes held for clients on all client-port streams together (67108864)",
  },
  {
    env: "WENDY_METRICS_HOST",
    valueName: "<host>",
    description: "address of /metrics /healthz /readyz (0.0.0.0)",
  },
  { env: "WENDY_METRICS_PORT", valueName: "<port>", description: "port of /metrics /healthz /readyz (9464)" },
  {
    env: "WENDY_SECRET",
    valueName: "<key>",
    description: "shared cluster secret: a random key of >= 128 bits",
    secret: true,
  },
  {
    env: "WENDY_SECRET_FILE",
    valueName: "<path>",
    description: "file of the cluster secret, one key a line (own key first during a rotation); reloaded",
  },
  { env: "WENDY_TLS_CERT_FILE", valueName: "<path>", description: "PEM certificate for the peer port" },
  { env: "WENDY_TLS_KEY_FILE", valueName: "<path>", description: "PEM private key of that certificate" },
  { env: "WENDY_TLS_CA_FILE", valueName: "<path>", description: "PEM CA bundle peers are checked against" },
  { env: "WENDY_TLS_MUTUAL", valueName: "<true|false>", description: "require client certificates (false)" },
  {
    env: "WENDY_TLS_RELOAD_INTERVAL_MS",
    valueName: "<ms>",
    description: "how often the secret, token and TLS files are checked for new contents (60000; 0 = never)",
  },
  {
    env: "WENDY_TLS_NODE_IDENTITY",
    valueName: "<true|false>",
    description:
      "the certificate's URI SAN wendy://node/<hex> is the node ID, and peers must prove theirs (false)",
  },
  {
    env: "WENDY_INSECURE",
    valueName: "<true|false>",
    description: "allow no secret, or a client port off loopback without TLS (false)",
  },
  {
    env: "WENDY_LOG_LEVEL",
    valueName: "<level>",
    description: "trace|debug|info|warn|error|fatal|silent (info)",
  },
  { env: "WENDY_LEAF_SET_SIZE", valueName: "<l>", description: "leaf-set size, even, at least 4 (32)" },
  { env: "WENDY_HEARTBEAT_INTERVAL_MS", valueName: "<ms>", description: "heartbeat interval (4000)" },
  { env: "WENDY_FAILURE_TIMEOUT_MS", valueName: "<ms>", description: "silence before a probe (5000)" },
  { env: "WENDY_REGION_MULTIPLIER", valueName: "<factor>", description: "RTT factor for other regions (10)" },
  {
    env: "WENDY_TABLE_MAINTENANCE_INTERVAL_MS",
    valueName: "<ms|off>",
    description: "routing-table maintenance interval (60000; off = never)",
  },
  { env: "WENDY_MAX_PAYLOAD_BYTES", valueName: "<bytes>", description: "largest routed payload (4194304)" },
  {
    env: "WENDY_DELIVERY_GRACE_MS",
    valueName: "<ms>",
    description: "how long a delivery waits for a subscriber before it is refused (5000)",
  },
  {
    env: "WENDY_KV_REPLICAS",
    valueName: "<k>",
    description: "replicas per key of the key-value store (3; at most leaf-set size / 2 + 1)",
  },
  {
    env: "WENDY_KV_WRITE_QUORUM",
    valueName: "<w>",
    description: "replicas that acknowledge a write (k/2+1)",
  },
  { env: "WENDY_KV_READ_QUORUM", valueName: "<r>", description: "replicas that answer a read (k/2+1)" },
  { env: "WENDY_KV_MAX_KEYS", valueName: "<n>", description: "records a node holds at most (100000)" },
  {
    env: "WENDY_KV_MAX_BYTES",
    valueName: "<bytes>",
    description: "bytes of records a node holds (268435456)",
  },
  {
    env: "WENDY_KV_REPAIR_RATE",
    valueName: "<keys/s>",
    description: "keys re-replication checks per second (2000)",
  },
  {
    env: "WENDY_KV_ANTI_ENTROPY_MS",
    valueName: "<ms>",
    description: "interval of anti-entropy rounds (1000)",
  },
  {
    env: "WENDY_KV_TOMBSTONE_GRACE_MS",
    valueName: "<ms>",
    description: "how long a deletion's tombstone is kept at least (3600000)",
  },
  {
    env: "WENDY_KV_DATA_DIR",
    valueName: "<dir>",
    description: "directory of a persistent copy of the key-value records (unset: memory only)",
  },
  {
    env: "WENDY_MAX_CONCURRENT_STREAMS",
    valueName: "<n>",
    description: "concurrent calls one connection may open (1000)",
  },
  {
    env: "WENDY_MAX_BUFFERED_BYTES_PER_CONNECTION",
    valueName: "<bytes>",
    description: "bytes of incomplete requests one connection may hold (16 MiB)",
  },
  {
    env: "WENDY_MAX_BUFFERED_BYTES",
    valueName: "<bytes>",
    description: "bytes of incomplete requests all connections may hold (32 MiB)",
  },
  {
    env: "WENDY_INCOMPLETE_REQUEST_TIMEOUT_MS",
    valueName: "<ms>",
    description: "time a request message may stay incomplete (10000)",
  },
  {
    env: "WENDY_HANDSHAKE_TIMEOUT_MS",
    valueName: "<ms>",
    description: "time a connection has for its TLS and HTTP/2 handshake (5000)",
  },
  {
    env: "WENDY_MAX_HELLOS_PER_SECOND",
    valueName: "<n>",
    description: "session handshakes answered per second, all sources (500)",
  },
  {
    env: "WENDY_MAX_HELLOS_PER_SECOND_PER_SOURCE",
    valueName: "<n>",
    description: "session handshakes answered per second from one address (100)",
  },
  {
    env: "WENDY_SHUTDOWN_GRACE_MS",
    valueName: "<ms>",
    description: "time allowed for a graceful leave (10000)",
  },
];

/** Variables the daemon reads that are not settings (no unknown-variable warning for them). */
export const OTHER_KNOWN_VARIABLES: ReadonlySet<string> = new Set(["WENDY_CONFIG", "WENDY_DEBUG"]);

/** WENDY_LEAF_SET_SIZE -> "leaf-set-size" (the flag, without its dashes). */
export function flagName(env: string): string {
  return env
    .replace(/^WENDY_/, "")
    .toLowerCase()
    .replaceAll("_", "-");
}

/** WENDY_LEAF_SET_SIZE -> "leafSetSize" (the config-file key, and commander's option attribute). */
export function keyName(env: string): string {
  return flagName(env).replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}
