// A minimal simulation results row (an incomplete build: no measurements to fake) for report and file tests.
import type { IncompleteBuild } from "../../bench/sim/benchmark.js";

export function incompleteRow(
  nodes: number,
  proximityAware: boolean,
  extra: Partial<IncompleteBuild> = {},
): IncompleteBuild {
  return {
    complete: false,
    nodes,
    proximityAware,
    seedSelection: "nearest",
    seed: 1,
    core: { commit: "test", dirty: false },
    createdNodes: nodes,
    readyNodes: nodes,
    buildWallMs: 1,
    buildVirtualMs: 1,
    events: 1,
    messagesByType: {},
    peakRssMiB: 1,
    peakHeapUsedMiB: 1,
    ...extra,
  };
}
