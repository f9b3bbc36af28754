// How a daemon gets into a ring through WENDY_JOIN (docs/configuration.md, "How a node joins"): drop itself
// from the seeds, ask each remaining seed's grpc.health.v1 whether it serves, join only through those that
// do, and let the first seed found the ring when nobody answers after one full round. Everyone else keeps
// going round the seeds, a pause between rounds, until it joins or the daemon stops.
import { Metadata } from "@grpc/grpc-js";
import { HealthCheckResponse_ServingStatus, HealthClient } from "../../gen/grpc/health/v1/health.js";
import type { PeerChannelSecurity } from "../auth/tls.js";
import { parseHostPort, type HostPort } from "./config.js";
import { asError } from "../../shared/as-error.js";

export const SEED_CHECK_TIMEOUT_MS = 2000;
export const PAUSE_BETWEEN_ROUNDS_MS = 1000;
export const SEED_HEALTH_SERVICE = "wendy.v1.PeerService";

export interface JoinPlan {
  /** The seeds other than this node, in list order. */
  readonly others: readonly string[];
  /** This node is the first seed: it founds the ring when no other seed answers in the first round. */
  readonly founder: boolean;
}

/** `selfAddresses` are this node's local and global "host:port" (hosts compared without case). */
export function planJoin(seeds: readonly string[], selfAddresses: readonly string[]): JoinPlan {
  const self = selfAddresses.map((a) => normalise(a));
  const isSelf = (seed: string): boolean => self.includes(normalise(seed));
  return { others: seeds.filter((s) => !isSelf(s)), founder: seeds.length > 0 && isSelf(seeds[0]!) };
}

function normalise(address: string): string {
  const parsed: HostPort | undefined = parseHostPort(address);
  return parsed === undefined ? address.toLowerCase() : `${parsed.host.toLowerCase()}:${parsed.port}`;
}

/** True when the seed's grpc.health.v1 reports wendy.v1.PeerService SERVING within the timeout. */
export function seedServing(
  address: string,
  security: PeerChannelSecurity,
  timeoutMs = SEED_CHECK_TIMEOUT_MS,
): Promise<boolean> {
  const client = new HealthClient(address, security.credentials, security.options);
  return new Promise<boolean>((resolve) => {
    client.check(
      { service: SEED_HEALTH_SERVICE },
      new Metadata(),
      { deadline: Date.now() + timeoutMs },
      (error, response) => {
        client.close();
        resolve(error === null && response.status === HealthCheckResponse_ServingStatus.SERVING);
      },
    );
  });
}

export type JoinOutcome = "joined" | "founded" | "stopped";

export interface JoinLoopOptions {
  readonly plan: JoinPlan;
  /** Is this seed serving? (seedServing in the daemon) */
  readonly isServing: (address: string) => Promise<boolean>;
  /** Sends the join through `seeds` (in order); resolves once joined, rejects when every one failed. */
  readonly join: (seeds: readonly string[]) => Promise<void>;
  readonly signal: AbortSignal;
  readonly log: {
    info(fields: object, message: string): void;
    warn(fields: object, message: string): void;
  };
  readonly pauseMs?: number;
}

export async function runJoinLoop(options: JoinLoopOptions): Promise<JoinOutcome> {
  const { plan, signal, log } = options;
  if (plan.others.length === 0) {
    if (plan.founder) return "founded";
    throw new Error("runJoinLoop needs other seeds or a founder");
  }
  for (let round = 1; !signal.aborted; round++) {
    const answers = await Promise.all(plan.others.map((seed) => options.isServing(seed)));
    if (signal.aborted) break;
    const available = plan.others.filter((_, i) => answers[i]);
    if (available.length > 0) {
      log.info({ round, seeds: available }, "joining through available seeds");
      try {
        await options.join(available);
        return "joined";
      } catch (error) {
        if (signal.aborted) break;
        log.warn(
          { event: "join_round_failed", peer: available, round, err: describe(error) },
          "join failed; trying again after a pause",
        );
      }
    } else if (plan.founder && round === 1) {
      log.info({ seeds: plan.others }, "no other seed answered: this node, the first seed, founds the ring");
      return "founded";
    } else {
      log.info({ round, seeds: plan.others }, "no seed is serving yet; trying again after a pause");
    }
    await pause(options.pauseMs ?? PAUSE_BETWEEN_ROUNDS_MS, signal);
  }
  return "stopped";
}

function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done);
  });
}

function describe(error: unknown): string {
  return asError(error).message;
}
