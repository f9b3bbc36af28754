// The routing settings a churn run overrides (bench/sim/churn.ts), and how its label names them: the knobs
// that trade maintenance traffic against detection time and stretch, so that each trade can be measured.
import { routingConfig } from "../../src/routing/config.js";
import type { RoutingConfig } from "../../src/routing/types.js";

export interface ChurnRoutingOptions {
  readonly heartbeatMs?: string;
  readonly failureTimeoutMs?: string;
  readonly leafSetSize?: string;
  readonly tableMaintenanceMs?: string;
}

/**
 * The overrides, checked: --heartbeat-ms alone keeps its earlier meaning (the failure timeout follows at twice
 * it); --failure-timeout-ms sets the timeout itself, which must exceed the heartbeat interval in force.
 */
export function churnRouting(o: ChurnRoutingOptions): {
  readonly routing: Partial<RoutingConfig>;
  readonly label: string;
} {
  const heartbeatMs = positive(o.heartbeatMs, "--heartbeat-ms");
  const explicitTimeout = positive(o.failureTimeoutMs, "--failure-timeout-ms");
  const failureTimeoutMs = explicitTimeout ?? (heartbeatMs === undefined ? undefined : 2 * heartbeatMs);
  const leafSetSize = o.leafSetSize === undefined ? undefined : Number(o.leafSetSize);
  const tableMaintenanceMs = positive(o.tableMaintenanceMs, "--table-maintenance-ms");
  const routing: Partial<RoutingConfig> = {
    ...(heartbeatMs === undefined ? {} : { heartbeatIntervalMs: heartbeatMs }),
    ...(failureTimeoutMs === undefined ? {} : { failureTimeoutMs }),
    ...(leafSetSize === undefined ? {} : { leafSetSize }),
    ...(tableMaintenanceMs === undefined ? {} : { tableMaintenanceIntervalMs: tableMaintenanceMs }),
  };
  const config = routingConfig(routing);
  if (!(config.failureTimeoutMs > config.heartbeatIntervalMs))
    throw new RangeError(
      `the failure timeout (${config.failureTimeoutMs} ms) must exceed the heartbeat interval (${config.heartbeatIntervalMs} ms)`,
    );
  let label = "";
  if (heartbeatMs !== undefined) label += `, heartbeat ${heartbeatMs} ms`;
  if (explicitTimeout !== undefined) label += `, failure timeout ${explicitTimeout} ms`;
  if (leafSetSize !== undefined) label += `, leaf set ${leafSetSize}`;
  if (tableMaintenanceMs !== undefined) label += `, table maintenance ${tableMaintenanceMs} ms`;
  return { routing, label };
}

function positive(text: string | undefined, flag: string): number | undefined {
  if (text === undefined) return undefined;
  const value = Number.parseFloat(text);
  if (!(value > 0) || !Number.isFinite(value)) throw new RangeError(`bad ${flag} ${text}`);
  return value;
}
