// The build phase: grows an overlay to its full size in waves, each wave a fraction of the ready nodes so
// every joiner finds seeds that have settled, as a real overlay grows.
import type { Simulator } from "./simulator.js";

export interface GrowOptions {
  readonly growth?: number;
  readonly spreadMs?: number;
  readonly waveTimeoutMs?: number;
  /** Fraction of a wave that may still be joining when the next wave starts (default 0: wait for all). */
  readonly stragglers?: number;
  /** How long the last wave may take to finish every join (default: waveTimeoutMs). */
  readonly finalTimeoutMs?: number;
  /** Called after each wave with the nodes created so far and the ready count. */
  readonly onWave?: (created: number, ready: number) => void;
  /** Checked every 100 ms of virtual time: true stops the growth early (e.g. a wall-clock budget). */
  readonly abort?: () => boolean;
}

/**
 * Grows the overlay to `total` nodes in waves: each wave adds up to `growth` times the current number
 * of ready nodes, spread over `spreadMs`, and waits (at most `waveTimeoutMs`) until no more than
 * `stragglers` (a fraction of the wave) are still joining; the last wave waits for every join to end.
 * Returns false when `abort` stopped it.
 */
export function growOverlay(sim: Simulator, total: number, options: GrowOptions = {}): boolean {
  const growth = options.growth ?? 0.5;
  const spreadMs = options.spreadMs ?? 1000;
  const waveTimeoutMs = options.waveTimeoutMs ?? 30_000;
  const stragglers = options.stragglers ?? 0;
  const abort = options.abort ?? ((): boolean => false);
  if (sim.nodeCount === 0) {
    sim.addNode();
    sim.runUntilCondition(() => sim.joining === 0, waveTimeoutMs);
  }
  while (sim.nodeCount < total) {
    const wave = Math.min(total - sim.nodeCount, Math.max(1, Math.floor(sim.truth.size * growth)));
    const allowed = sim.nodeCount + wave < total ? Math.floor(wave * stragglers) : 0;
    sim.scheduleJoins(wave, spreadMs);
    if (!sim.runUntilCondition(abort, spreadMs)) {
      const last = sim.nodeCount >= total;
      sim.runUntilCondition(
        () => abort() || sim.joining <= allowed,
        last ? (options.finalTimeoutMs ?? waveTimeoutMs) : waveTimeoutMs,
      );
    }
    options.onWave?.(sim.nodeCount, sim.truth.size);
    if (abort()) return false;
  }
  return true;
}
