// Public surface of the metrics and health module, for the runtime and the daemon. Typical wiring:
//
//   const metrics = new WendyMetrics({ nodeId: self.id.hex, version });
//   metrics.setStateProvider(() => ({ leafSetLeft, leafSetRight, routingTableEntries, ..., ready }));
//   const http = await startHealthServer({ host, port, metrics, health: { liveness, readiness } });
//   ... metrics.messageDropped("ttl"); metrics.peerRpcCompleted(method, code, seconds); ...
//   await http.close();
export { WendyMetrics, METRIC_PREFIX } from "./metrics.js";
export type { NodeStateSnapshot, NodeStateProvider, WendyMetricsOptions } from "./metrics.js";
export { startHealthServer } from "./http.js";
export type { HealthCheck, HealthServer, HealthServerOptions, HealthSource, MetricsSource } from "./http.js";
export {
  DEFAULT_AUTH_FAILURE_REASONS,
  DEFAULT_CLIENT_METHODS,
  DEFAULT_PEER_METHODS,
  DROP_REASONS,
  OTHER,
} from "./labels.js";
export type { MetricsDropReason, RpcSide } from "./labels.js";
