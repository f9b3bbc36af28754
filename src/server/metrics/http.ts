// The node's HTTP side door for operators: Prometheus scrapes and Kubernetes probes, on plain node:http.
//   GET /metrics  text exposition
//   GET /healthz  200 while the process answers (so its event loop turns); 500 when the node reports itself
//                 broken
//   GET /readyz   200 only when joined and consistent; 503 with a one-line reason otherwise
// HEAD is answered like GET without a body. Other methods on these paths get 405; other paths 404.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { asError } from "../../shared/as-error.js";

export type HealthCheck = { readonly ok: true } | { readonly ok: false; readonly reason: string };

export interface HealthSource {
  /** Liveness: ok unless the node knows it is broken and should be restarted. */
  liveness(): HealthCheck;
  /** Readiness: ok only when the node is joined and its state is consistent. */
  readiness(): HealthCheck;
}

/** What /metrics needs; WendyMetrics provides it. */
export interface MetricsSource {
  exposition(): Promise<string>;
  readonly contentType: string;
}

export interface HealthServerOptions {
  readonly host: string;
  /** 0 picks any free port; read the chosen one from HealthServer.port. */
  readonly port: number;
  readonly metrics: MetricsSource;
  readonly health: HealthSource;
}

export interface HealthServer {
  readonly host: string;
  readonly port: number;
  /** Base URL, e.g. "http://127.0.0.1:9464". */
  readonly url: string;
  /** Stops listening and closes open (keep-alive) connections. Safe to call twice. */
  close(): Promise<void>;
}

const TEXT = "text/plain; charset=utf-8";
const ALLOWED_METHODS = "GET, HEAD";
const MAX_REASON_LENGTH = 200;

interface Reply {
  readonly status: number;
  readonly contentType: string;
  readonly body: string;
  readonly headers?: Readonly<Record<string, string>>;
}

export async function startHealthServer(options: HealthServerOptions): Promise<HealthServer> {
  const server = createServer((req, res) => {
    handle(req, options)
      .then((reply) => send(req, res, reply))
      .catch((err: unknown) => send(req, res, text(500, `internal error: ${describe(err)}`)));
  });
  await listen(server, options.host, options.port);
  const { port } = server.address() as AddressInfo;
  const urlHost = options.host.includes(":") ? `[${options.host}]` : options.host;
  let closing: Promise<void> | undefined;
  return {
    host: options.host,
    port,
    url: `http://${urlHost}:${port}`,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

async function handle(req: IncomingMessage, options: HealthServerOptions): Promise<Reply> {
  const path = pathOf(req.url);
  const route = ROUTES.get(path);
  if (route === undefined) return text(404, "not found");
  if (req.method !== "GET" && req.method !== "HEAD") {
    return { ...text(405, "method not allowed"), headers: { Allow: ALLOWED_METHODS } };
  }
  return route(options);
}

type Route = (options: HealthServerOptions) => Promise<Reply> | Reply;

// A Map, not an object literal, so request paths can never reach Object.prototype members.
const ROUTES: ReadonlyMap<string, Route> = new Map<string, Route>([
  [
    "/metrics",
    async ({ metrics }) => {
      try {
        return { status: 200, contentType: metrics.contentType, body: await metrics.exposition() };
      } catch (err) {
        return text(500, `metrics collection failed: ${describe(err)}`);
      }
    },
  ],
  ["/healthz", ({ health }) => probe(() => health.liveness(), 500)],
  ["/readyz", ({ health }) => probe(() => health.readiness(), 503)],
]);

/** A probe's answer; a check that throws counts as failed, with the error as the reason. */
function probe(check: () => HealthCheck, failureStatus: number): Reply {
  let result: HealthCheck;
  try {
    result = check();
  } catch (err) {
    result = { ok: false, reason: `health check threw: ${describe(err)}` };
  }
  return result.ok ? text(200, "ok") : text(failureStatus, result.reason);
}

function pathOf(url: string | undefined): string {
  const raw = url ?? "/";
  const query = raw.indexOf("?");
  return query >= 0 ? raw.slice(0, query) : raw;
}

/** A plain-text reply whose body is one line, so probes and logs show it intact. */
function text(status: number, message: string): Reply {
  const line = message.replace(/[\r\n]+/g, " ").slice(0, MAX_REASON_LENGTH) || "unknown";
  return { status, contentType: TEXT, body: line + "\n" };
}

function send(req: IncomingMessage, res: ServerResponse, reply: Reply): void {
  const body = Buffer.from(reply.body, "utf8");
  res.writeHead(reply.status, {
    "Content-Type": reply.contentType,
    "Content-Length": String(body.length),
    "Cache-Control": "no-store",
    ...reply.headers,
  });
  res.end(req.method === "HEAD" ? undefined : body);
}

function describe(err: unknown): string {
  return asError(err).message;
}

function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once("error", onError);
    server.listen(port, host, () => {
      server.off("error", onError);
      resolve();
    });
  });
}
