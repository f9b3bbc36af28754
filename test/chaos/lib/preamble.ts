// The preamble every multi-node chaos scenario shares: hold the machine lock, build the namespaces before
// the scenario and tear down processes, extra helpers (relays) and namespaces after it, in that order; the
// scenario's cluster key and its nodes' options; bounded waits on the ring's states; the process faults of
// the churn scenarios and what they leave to report.
import { afterAll, beforeAll } from "vitest";
import type { PeerOptions, PeerProcess } from "../../integration/harness.js";
import type { NodeState } from "../../integration/fixtures/protocol.js";
import { existsSync } from "node:fs";
import { NodeId } from "../../../src/routing/id.js";
import { CertDir } from "../../helpers/certs.js";
import { testSecret } from "../../helpers/secrets.js";
import { freeze, killHard, stopGracefully, thaw } from "./faults.js";
import { TestNetwork } from "./netns.js";
import { ChaosWorld, IDENTITIES, acquireMachineLock, nodeOptions, sleep, statesOf } from "./scenario.js";
import type { Lifecycle } from "./traffic.js";

/** Building the namespaces may first wait for another scenario to release the machine lock. */
const SETUP_LIMIT_MS = 420_000;
const TEARDOWN_LIMIT_MS = 60_000;
/** How often a wait on the ring's states polls them. */
const POLL_MS = 1000;

export class ChaosScenario {
  readonly world = new ChaosWorld();
  private network: TestNetwork | undefined;
  private readonly cleanups: (() => Promise<void>)[] = [];
  private certs: CertDir | undefined;

  /** `secretLabel` names the scenario's cluster key (see testSecret). */
  private constructor(private readonly secretLabel: string) {}

  /** The scenario's namespaces; made in the file's beforeAll, so usable in any hook or test after it. */
  get net(): TestNetwork {
    if (this.network === undefined) throw new Error("the test network is built in beforeAll");
    return this.network;
  }

  /** Runs `cleanup` after the node processes are gone and before the namespaces are removed. */
  onCleanup(cleanup: () => Promise<void>): void {
    this.cleanups.push(cleanup);
  }

  /**
   * Options for nodes 0 .. count - 1 of the network, named `${prefix}1`, `${prefix}2`, ..., each in its own
   * namespace, all with the scenario's cluster key and the extra environment `env`.
   */
  nodeOptions(count: number, prefix: string, env: Readonly<Record<string, string>> = {}): PeerOptions[] {
    const secret = testSecret(this.secretLabel);
    return Array.from({ length: count }, (_, i) => {
      const name = `${prefix}${i + 1}`;
      const identity = IDENTITIES ? this.identityEnv(name, this.net.node(i).address) : {};
      return nodeOptions(this.net, i, name, secret, { ...env, ...identity });
    });
  }

  /**
   * With WENDY_CHAOS_IDENTITIES=true: per-node identities, each node with a certificate of its own naming
   * its ID and its namespace's address, all from one throwaway CA (made on first use).
   */
  private identityEnv(name: string, host: string): Record<string, string> {
    if (this.certs === undefined) {
      this.certs = new CertDir();
      this.certs.ca("ca");
    }
    const certs = this.certs;
    if (!existsSync(certs.file(`${name}.crt`)))
      certs.nodeLeaf(name, "ca", NodeId.fromString(name).hex, `IP:${host}`);
    return {
      WENDY_TEST_TLS_CERT: certs.file(`${name}.crt`),
      WENDY_TEST_TLS_KEY: certs.file(`${name}.key`),
      WENDY_TEST_TLS_CA: certs.file("ca.crt"),
      WENDY_TEST_NODE_IDENTITY: "true",
    };
  }

  /**
   * Polls the states of `peers()` (asked again at each poll) once a second until every one answered and
   * `done` holds for them, at most `limitMs`; returns how long it took, or undefined if it never did.
   */
  async timeUntil(
    peers: () => readonly PeerProcess[],
    done: (states: Map<PeerProcess, NodeState>, peers: readonly PeerProcess[]) => boolean,
    limitMs: number,
  ): Promise<number | undefined> {
    const start = this.world.now();
    while (this.world.now() - start < limitMs) {
      const watched = peers();
      const states = await statesOf(watched);
      if (states.size === watched.length && done(states, watched)) return this.world.now() - start;
      await sleep(POLL_MS);
    }
    return undefined;
  }

  /** Registers the hooks; call once, at the top level of a test file. */
  static register(secretLabel: string, nodes: number): ChaosScenario {
    const scenario = new ChaosScenario(secretLabel);
    let release: () => void = () => undefined;
    beforeAll(async () => {
      release = await acquireMachineLock();
      scenario.network = await TestNetwork.create(nodes);
    }, SETUP_LIMIT_MS);
    afterAll(async () => {
      try {
        await scenario.world.closeAll();
        for (const cleanup of scenario.cleanups) await cleanup();
        await scenario.network?.destroy();
        scenario.certs?.remove();
      } finally {
        release();
      }
    }, TEARDOWN_LIMIT_MS);
    return scenario;
  }
}

/** A process fault of the churn scenarios. */
export type ProcessFault = "kill" | "stop" | "freeze";

/**
 * Applies `fault` to `victim` and records it in `lifecycle`: kill -9, a graceful stop, or a freeze held for
 * `freezeMs` and thawed (the victim is in `frozen` meanwhile, so that the churn picks no frozen victim).
 */
export async function applyFault(
  fault: ProcessFault,
  victim: PeerProcess,
  at: { readonly world: ChaosWorld; readonly lifecycle: Lifecycle; readonly frozen: Set<PeerProcess> },
  freezeMs: number,
): Promise<void> {
  const { world, lifecycle, frozen } = at;
  if (fault === "kill") {
    await killHard(victim);
    lifecycle.record(victim, "killed", world.now());
  } else if (fault === "stop") {
    lifecycle.record(victim, "stopped", world.now());
    await stopGracefully(victim);
  } else {
    freeze(victim);
    frozen.add(victim);
    lifecycle.record(victim, "frozen", world.now());
    await sleep(freezeMs);
    thaw(victim);
    lifecycle.record(victim, "thawed", world.now());
    frozen.delete(victim);
  }
}

/** The processes that exited without the test ending them (a crash), by name. */
export function unexpectedExits(peers: readonly PeerProcess[], lifecycle: Lifecycle): string[] {
  return peers.filter((p) => p.exited && !lifecycle.ended(p)).map((p) => p.options.name);
}

/** The faults in the order they happened, as "12.3s killed c5", for the results file. */
export function faultTimeline(lifecycle: Lifecycle): string[] {
  return lifecycle.events().map((e) => `${Math.round(e.at / 100) / 10}s ${e.kind} ${e.peer.options.name}`);
}
