// The preamble every multi-node chaos scenario shares: hold the machine lock, build the namespaces before
// the scenario and tear down processes, extra helpers (relays) and namespaces after it, in that order.
import { afterAll, beforeAll } from "vitest";
import { TestNetwork } from "./netns.js";
import { ChaosWorld, acquireMachineLock } from "./scenario.js";

/** Building the namespaces may first wait for another scenario to release the machine lock. */
const SETUP_LIMIT_MS = 420_000;
const TEARDOWN_LIMIT_MS = 60_000;

export class ChaosScenario {
  readonly world = new ChaosWorld();
  private network: TestNetwork | undefined;
  private readonly cleanups: (() => Promise<void>)[] = [];

  /** The scenario's namespaces; made in the file's beforeAll, so usable in any hook or test after it. */
  get net(): TestNetwork {
    if (this.network === undefined) throw new Error("the test network is built in beforeAll");
    return this.network;
  }

  /** Runs `cleanup` after the node processes are gone and before the namespaces are removed. */
  onCleanup(cleanup: () => Promise<void>): void {
    this.cleanups.push(cleanup);
  }

  /** Registers the hooks; call once, at the top level of a test file. */
  static register(nodes: number): ChaosScenario {
    const scenario = new ChaosScenario();
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
      } finally {
        release();
      }
    }, TEARDOWN_LIMIT_MS);
    return scenario;
  }
}
