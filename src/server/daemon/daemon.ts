// One running `wendy start`: a Cluster on the peer port, the client services on the client port, the
// metrics/health HTTP server, and the join rounds of docs/configuration.md. Owns the shutdown order:
// not ready first, then no new client calls, then the graceful leave, all within the configured grace.
import { KvNode, addKvService, type KvServiceHandle } from "../kv/index.js";
import { registerKvMetrics } from "../kv/metrics.js";
import { readFileSync } from "node:fs";
import { Server, ServerCredentials } from "@grpc/grpc-js";
import { NodeId } from "../../routing/id.js";
import { isRingMinimum } from "../../routing/ring.js";
import { PassphraseCredentials } from "../auth/credentials.js";
import { parseSecretKeys } from "../auth/secret-keys.js";
import { clientPortServerCredentials, peerChannelSecurity } from "../auth/tls.js";
import { Cluster } from "../cluster.js";
import { NotReadyError } from "../errors.js";
import { WendyMetrics } from "../metrics/metrics.js";
import { startHealthServer, type HealthServer } from "../metrics/http.js";
import { Node, hostPort } from "../node.js";
import { addOverlayService, overlayServerOptions, type OverlayServiceHandle } from "../overlay/index.js";
import { addLazyReflection } from "../reflection.js";
import { ClientPortBudget } from "../transport/client-port-budget.js";
import { InboundGuard, inboundServerOptions } from "../transport/inbound-limits.js";
import { forceShutdownOutsideHttp2Input } from "../transport/force-shutdown.js";
import { TokenCheck } from "../overlay/auth.js";
import { listenOnSocket } from "./client-socket.js";
import { isLoopback, tokenLines, type ClientTlsConfig, type DaemonConfig } from "./config.js";
import { WatchedFile } from "./watched-file.js";
import { membershipLog } from "./event-log.js";
import { DaemonHealth } from "./health.js";
import { planJoin, runJoinLoop, seedServing } from "./join.js";
import type { Logger } from "./logger.js";
import { wendyVersion } from "./version.js";
import { asError } from "../../shared/as-error.js";

/** Log messages other programs wait for (the demo, tests): the start line and the ready line. */
export const LOG_STARTED = "wendy node started";
export const LOG_READY = "joined the ring: ready";
export const LOG_KV_STORE_OPENED = "key-value store read back from its data directory";

export interface DaemonOptions {
  readonly config: DaemonConfig;
  readonly logger: Logger;
}

export interface DaemonPorts {
  readonly peer: number;
  readonly client: number;
  readonly metrics: number;
}

/** The node's own address host when none is configured: the bind host, or loopback for a wildcard. */
function defaultAddressHost(bindHost: string): string {
  return bindHost === "0.0.0.0" || bindHost === "::" ? "127.0.0.1" : bindHost;
}

export class Daemon {
  private readonly joinAbort = new AbortController();
  private stopping: Promise<void> | undefined;

  private constructor(
    readonly config: DaemonConfig,
    readonly cluster: Cluster,
    readonly metrics: WendyMetrics,
    private readonly log: Logger,
    private readonly clientServer: Server,
    private readonly overlay: OverlayServiceHandle,
    private readonly kvService: KvServiceHandle,
    private readonly http: HealthServer,
    readonly ports: DaemonPorts,
    readonly health: DaemonHealth,
    readonly kv: KvNode,
    private readonly watchers: readonly WatchedFile[],
  ) {}

  /** Binds every port and starts joining; resolves once listening (not once joined: see `joined`). */
  static async start(options: DaemonOptions): Promise<Daemon> {
    const { config, logger } = options;
    const health = new DaemonHealth();
    for (const name of config.unknownEnv)
      logger.warn(
        { event: "unknown_variable", peer: null, variable: name },
        "unknown WENDY_* variable ignored",
      );
    if (config.insecure) logInsecure(config, logger);

    const metrics = new WendyMetrics({ nodeId: config.nodeId.hex, version: wendyVersion() });
    const localHost = config.localAddress?.host ?? defaultAddressHost(config.bindHost);
    const node = new Node({
      id: config.nodeId,
      localAddress: localHost,
      globalAddress: config.globalAddress?.host ?? localHost,
      region: config.region,
      port: config.port,
    });
    const credentials =
      config.secret === undefined
        ? undefined
        : new PassphraseCredentials(config.secret, undefined, config.secretAlso);
    const cluster = new Cluster(node, credentials, {
      routing: {
        leafSetSize: config.leafSetSize,
        heartbeatIntervalMs: config.heartbeatIntervalMs,
        failureTimeoutMs: config.failureTimeoutMs,
        regionMultiplier: config.regionMultiplier,
        tableMaintenanceIntervalMs: config.tableMaintenanceIntervalMs,
      },
      maxPayloadBytes: config.maxPayloadBytes,
      inboundLimits: config.inboundLimits,
      maxHellosPerSecond: config.maxHellosPerSecond,
      maxHellosPerSecondPerSource: config.maxHellosPerSecondPerSource,
      bindHost: config.bindHost,
      tls: config.tls,
      metrics,
      logger,
      serveHealth: false,
      configureServer: (server) => {
        health.serveOn(server);
        kv.addPeerServiceTo(server);
      },
      onPeerPortClosing: () => kv.endPeerStreams(),
    });
    // A persistent store is read back before the node listens: a restarted node holds its keys at once.
    const kv = await KvNode.open(cluster, config.kv);
    if (config.kv.dataDir !== undefined)
      logger.info(
        { event: "kv_store_opened", peer: null, dataDir: config.kv.dataDir, records: kv.restored },
        LOG_KV_STORE_OPENED,
      );
    cluster.registerApplication(membershipLog(logger));
    const cleanups: (() => Promise<void>)[] = [];
    try {
      // A node that will join is no overlay of its own meanwhile: a peer that still knows this address (the
      // previous process on this port) must not make it a member between its listen and its join.
      await cluster.listen({ joinFirst: config.join.length > 0 });
      cleanups.push(() => cluster.kill());
      kv.start();
      cleanups.push(() => kv.close());

      const limits = {
        maxPayloadBytes: config.maxPayloadBytes,
        deliveryGraceMs: config.deliveryGraceMs,
        maxQueuedBytes: config.clientMaxQueuedBytes,
      };
      // One check for both client services, so a reloaded token file changes what either accepts.
      const tokens = new TokenCheck(
        config.clientToken === undefined ? undefined : [config.clientToken, ...config.clientTokensAlso],
      );
      const watchers = watchFiles(config, cluster, tokens, logger);
      cleanups.push(async () => {
        for (const w of watchers) w.close();
      });
      const clientServer = new Server({
        ...overlayServerOptions(limits),
        ...inboundServerOptions(config.inboundLimits),
        interceptors: [new ClientPortBudget({ maxStreams: config.clientMaxStreams }).interceptor],
      });
      const overlay = addOverlayService(clientServer, {
        cluster,
        metrics,
        limits,
        ...(tokens.enabled ? { token: tokens } : {}),
        allowRemoteStreams: config.clientRemoteSubscribe,
        // The daemon's health (which knows about join rounds and shutdown) is served instead.
        healthAndReflection: false,
        onError: (error) =>
          logger.warn(
            { event: "client_service_error", peer: null, err: error.message },
            "client service error",
          ),
      });
      const kvService = addKvService(clientServer, {
        kv,
        token: tokens,
        metrics,
        queuedBytes: overlay.byteBudget,
      });
      registerKvMetrics(metrics.registry, () => kv.stats());
      health.serveOn(clientServer);
      addLazyReflection(clientServer);
      const clientPort = await bind(
        clientServer,
        config.clientHost,
        config.clientPort,
        clientServerCredentials(config.clientTls, config.reloadIntervalMs),
      );
      cleanups.push(() => forceShutdownOutsideHttp2Input(clientServer));
      if (config.clientSocket !== undefined) await listenOnSocket(clientServer, config.clientSocket);
      // Client calls are authenticated by a token in their headers, after grpc-js buffered the request.
      new InboundGuard(config.inboundLimits).attach(clientServer);

      metrics.setStateProvider(() => {
        const leaves = cluster.leafSet();
        const stats = cluster.stats();
        const self = cluster.info();
        return {
          leafSetLeft: leaves.left.length,
          leafSetRight: leaves.right.length,
          routingTableEntries: cluster.routingTable().reduce((n, row) => n + row.filter(Boolean).length, 0),
          neighbourhoodSetSize: cluster.neighbourhood().length,
          knownPeers: cluster.knownPeers().length,
          openPeerConnections: stats.openConnections,
          subscribers: overlay.subscriberCount,
          clientQueuedBytes: overlay.queuedBytes,
          ready: health.joined && cluster.ready,
          rerouted: stats.rerouted,
          hopRetries: stats.hopRetries,
          hopsParked: stats.hopsParked,
          parkedHops: stats.parkedHops,
          ringMinimum: isRingMinimum(self.id, [...leaves.left, ...leaves.right]) ? self.id.hex : undefined,
        };
      });
      const http = await startHealthServer({
        host: config.metricsHost,
        port: config.metricsPort,
        metrics,
        health,
      });
      const ports = { peer: cluster.node.port, client: clientPort, metrics: http.port };
      const daemon = new Daemon(
        config,
        cluster,
        metrics,
        logger,
        clientServer,
        overlay,
        kvService,
        http,
        ports,
        health,
        kv,
        watchers,
      );
      daemon.logStarted();
      daemon.startJoining();
      return daemon;
    } catch (error) {
      for (const cleanup of cleanups.reverse()) await cleanup();
      throw error;
    }
  }

  /**
   * The graceful exit: NOT_SERVING and 503 at once, no new client calls, the leave announced to the leaf
   * set, calls in flight let finish; whatever is left when the grace runs out is cut off.
   */
  stop(): Promise<void> {
    this.stopping ??= this.shutDown();
    return this.stopping;
  }

  private async shutDown(): Promise<void> {
    const graceMs = this.config.shutdownGraceMs;
    this.log.info({ graceMs }, "shutting down: leaving the ring");
    this.health.beginShutdown();
    // Watchers have just been told NOT_SERVING; an open Watch stream must not hold the servers' shutdown.
    this.health.endWatches();
    this.joinAbort.abort();
    // No application can attach from now on: deliveries none holds fail their senders now, not after the grace.
    this.overlay.drain();
    const orderly = (async () => {
      // tryShutdown refuses new calls at once and lets running ones finish; streams end below.
      this.clientServer.tryShutdown(() => undefined);
      await this.cluster.stop(graceMs);
    })();
    void orderly.catch(() => undefined);
    let timer: NodeJS.Timeout | undefined;
    const outOfTime = new Promise<"late">((resolve) => {
      timer = setTimeout(() => resolve("late"), graceMs);
    });
    const result = await Promise.race([orderly.then(() => "done" as const), outOfTime]);
    clearTimeout(timer);
    if (result === "late") {
      this.log.warn(
        { event: "shutdown_cut_off", peer: null, graceMs },
        "shutdown grace ran out: cutting off what is left",
      );
      await this.cluster.kill();
    }
    // Subscriptions and watches would never end by themselves; waiting calls fail now.
    this.overlay.close();
    this.kvService.close();
    await forceShutdownOutsideHttp2Input(this.clientServer);
    await this.kv.close();
    for (const w of this.watchers) w.close();
    await this.http.close();
    this.log.info("stopped");
  }

  private logStarted(): void {
    const self = this.cluster.info();
    this.log.info(
      {
        nodeName: this.config.nodeName,
        version: wendyVersion(),
        nodeVersion: process.version,
        idSource: this.config.idSource,
        localAddress: self.localAddress,
        globalAddress: self.globalAddress,
        region: self.region,
        peerPort: this.ports.peer,
        clientPort: this.ports.client,
        metricsPort: this.ports.metrics,
        clientAddress: hostPort(this.config.clientHost, this.ports.client),
        clientSocket: this.config.clientSocket ?? null,
        metricsUrl: this.http.url,
      },
      LOG_STARTED,
    );
  }

  private startJoining(): void {
    const self = this.cluster.info();
    if (this.config.join.length === 0) {
      this.log.info("WENDY_JOIN unset: this node starts a new ring");
      this.health.markJoined();
      this.log.info({ outcome: "founded" }, LOG_READY);
      return;
    }
    const plan = planJoin(this.config.join, [self.localAddress, self.globalAddress]);
    const channel = peerChannelSecurity(this.config.tls);
    void runJoinLoop({
      plan,
      isServing: (seed) => seedServing(seed, channel(seed)),
      join: (seeds) => this.joinThrough(seeds),
      signal: this.joinAbort.signal,
      log: this.log,
    }).then(
      (outcome) => {
        if (outcome === "founded") this.cluster.found();
        if (outcome !== "stopped") {
          this.health.markJoined();
          this.log.info({ outcome, leafSet: this.leafSetSummary() }, LOG_READY);
        }
      },
      (error: unknown) => {
        this.health.markBroken(String(error));
        this.log.error(
          { event: "join_failed", peer: this.config.join, err: String(error) },
          "join failed for good",
        );
      },
    );
  }

  private async joinThrough(seeds: readonly string[]): Promise<void> {
    try {
      await this.cluster.join(seeds);
    } catch (error) {
      // A failed join leaves nothing behind (the cluster starts the next from a clean machine); anything
      // else refusing a join means this process cannot recover by itself.
      if (error instanceof NotReadyError && this.stopping === undefined) {
        this.health.markBroken(`cannot join again: ${error.message}`);
        this.log.error(
          { event: "join_refused", peer: seeds, err: error.message },
          "cannot join again: liveness now fails so that the node is restarted",
        );
        this.joinAbort.abort();
      }
      throw error;
    }
  }

  private leafSetSummary(): { left: string[]; right: string[] } {
    const leaves = this.cluster.leafSet();
    const short = (id: NodeId): string => id.hex.slice(0, 8);
    return { left: leaves.left.map((n) => short(n.id)), right: leaves.right.map((n) => short(n.id)) };
  }
}

/** WENDY_INSECURE=true: said at every start, naming each protection that is off, so nobody forgets it. */
function logInsecure(config: DaemonConfig, logger: Logger): void {
  const off: string[] = [];
  if (config.secret === undefined) off.push("no cluster secret: peers are not authenticated");
  if (config.clientTls === undefined && !isLoopback(config.clientHost))
    off.push("client port beyond loopback without TLS: its token crosses the network in clear");
  if (off.length === 0) off.push("nothing insecure is configured; the setting can be removed");
  logger.warn(
    { event: "insecure", peer: null, insecure: off },
    "WENDY_INSECURE=true: running with protections off",
  );
}

function clientServerCredentials(
  tls: ClientTlsConfig | undefined,
  reloadIntervalMs: number,
): ServerCredentials {
  if (tls === undefined) return ServerCredentials.createInsecure();
  return clientPortServerCredentials(tls.certFile, tls.keyFile, reloadIntervalMs);
}

/** What `file` holds now (as read at start, give or take a change since), or nothing if it is unreadable. */
function contentsNow(file: string): Buffer {
  try {
    return readFileSync(file);
  } catch {
    return Buffer.alloc(0);
  }
}

/**
 * Watches the secret and token files (when given as files, and reloading is on): a change takes effect
 * without a restart. A file that no longer parses (mid-edit, or a weak key) keeps what is in use, said
 * in the log; the next change is read again.
 */
function watchFiles(
  config: DaemonConfig,
  cluster: Cluster,
  tokens: TokenCheck,
  logger: Logger,
): WatchedFile[] {
  if (config.reloadIntervalMs <= 0) return [];
  const watchers: WatchedFile[] = [];
  const unreadable = (file: string) => (error: Error) =>
    logger.warn(
      { event: "reload_failed", peer: null, file, err: error.message },
      "cannot read a changed file",
    );
  if (config.secretFile !== undefined) {
    const file = config.secretFile;
    watchers.push(
      new WatchedFile(
        file,
        contentsNow(file),
        config.reloadIntervalMs,
        (contents) => {
          try {
            const keys = parseSecretKeys(contents.toString("utf8"));
            cluster.rotateSecret(new PassphraseCredentials(keys[0]!, undefined, keys.slice(1)));
            logger.info(
              { event: "secret_reloaded", peer: null, file, keys: keys.length },
              "cluster secret reloaded",
            );
          } catch (error) {
            logger.error(
              { event: "reload_refused", peer: null, file, err: asError(error).message },
              "the changed cluster secret is unusable: the previous one stays in use",
            );
          }
        },
        unreadable(file),
      ),
    );
  }
  if (config.clientTokenFile !== undefined) {
    const file = config.clientTokenFile;
    watchers.push(
      new WatchedFile(
        file,
        contentsNow(file),
        config.reloadIntervalMs,
        (contents) => {
          const lines = tokenLines(contents.toString("utf8"));
          if (lines.length === 0) {
            logger.error(
              { event: "reload_refused", peer: null, file },
              "the changed token file holds no token: the previous tokens stay in use",
            );
            return;
          }
          tokens.replace(lines);
          logger.info(
            { event: "token_reloaded", peer: null, file, tokens: lines.length },
            "client token reloaded",
          );
        },
        unreadable(file),
      ),
    );
  }
  return watchers;
}

function bind(server: Server, host: string, port: number, credentials: ServerCredentials): Promise<number> {
  return new Promise((resolve, reject) =>
    server.bindAsync(hostPort(host, port), credentials, (error, bound) =>
      error
        ? reject(new Error(`cannot listen on ${hostPort(host, port)}: ${error.message}`))
        : resolve(bound),
    ),
  );
}
