// Building the routing core's configuration: defaults filled in, and the rules the core's data structures
// rely on checked once, here. Everything inside src/routing trusts a RoutingConfig built by routingConfig().
// (The runtime and the daemon add their own operator policy on top, such as MIN_LEAF_SET_SIZE.)
import { DEFAULT_ROUTING_CONFIG, MAX_LEAF_SET_SIZE, type RoutingConfig } from "./types.js";

/** Defaults for what `overrides` leaves out; throws RangeError for a configuration the core cannot run. */
export function routingConfig(overrides: Partial<RoutingConfig> = {}): RoutingConfig {
  const config: RoutingConfig = { ...DEFAULT_ROUTING_CONFIG, ...overrides };
  const l = config.leafSetSize;
  if (!Number.isInteger(l) || l < 2 || l > MAX_LEAF_SET_SIZE || l % 2 !== 0) {
    throw new RangeError(`the leaf-set size must be an even integer in 2..${MAX_LEAF_SET_SIZE}, got ${l}`);
  }
  if (!(config.tableMaintenanceIntervalMs > 0)) {
    throw new RangeError(
      `tableMaintenanceIntervalMs must be positive (Infinity: never), got ${config.tableMaintenanceIntervalMs}`,
    );
  }
  return config;
}
