// The pods' network: one namespace per pod on a private subnet (test/chaos/lib/netns.ts), and the cluster DNS
// names of the headless service answered from each namespace's own /etc/netns/<ns>/hosts, which
// `ip netns exec` binds over /etc/hosts for everything run in that namespace.
import { existsSync, mkdirSync, readdirSync, rmSync, rmdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { TestNetwork } from "../chaos/lib/netns.js";
import { firstFailingCommand } from "../helpers/host-tools.js";

const ETC_NETNS = "/etc/netns";
/** Namespace names of the chaos library: `wendy-t<pid>x<n>-<i>`. */
const OWNED_RE = /^wendy-t(\d+)x\d+-/;
// Entries this process wrote and has not removed yet, removed even when a test dies half-way.
const written = new Set<string>();
process.once("exit", () => {
  for (const dir of written) rmSync(dir, { recursive: true, force: true });
});

/** Fails with a clear message unless this process can build namespaces (root, iproute2, setpriv). */
export function requireRoot(): void {
  if (process.getuid?.() !== 0) {
    throw new Error(
      "the StatefulSet rehearsal needs root (network and mount namespaces); CI runs it as root",
    );
  }
  const failing = firstFailingCommand([
    ["ip", "netns", "list"],
    ["setpriv", "--version"],
  ]);
  if (failing !== undefined) {
    throw new Error(
      `the StatefulSet rehearsal needs '${failing.command}' (iproute2, util-linux): ${failing.why}`,
    );
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export interface PodAddress {
  readonly podName: string;
  readonly fqdn: string;
}

export class PodNetwork {
  private readonly etcDirs: string[] = [];

  private constructor(
    readonly net: TestNetwork,
    private readonly madeEtcNetns: boolean,
  ) {}

  /** One namespace per pod; `names(ip)` gives the DNS names of the pod at each address, in pod order. */
  static async create(count: number): Promise<PodNetwork> {
    requireRoot();
    sweepOrphanEtc();
    const madeEtcNetns = !existsSync(ETC_NETNS);
    const net = await TestNetwork.create(count);
    return new PodNetwork(net, madeEtcNetns);
  }

  /** How many pods the network has namespaces for. */
  get size(): number {
    return this.net.nodes.length;
  }

  /** Pod `i`'s namespace and address. */
  pod(i: number): { readonly ns: string; readonly address: string } {
    return this.net.node(i);
  }

  get kubeletNs(): string {
    return this.net.switchNs;
  }

  /**
   * Writes every namespace's hosts file: the pods' headless-service names at their addresses, as the
   * cluster DNS would answer them. A resolv.conf pointing at the namespace's own loopback keeps any other
   * name lookup inside the namespace.
   */
  publishNames(pods: readonly PodAddress[]): void {
    const lines = ["127.0.0.1 localhost", "::1 localhost ip6-localhost"];
    pods.forEach((p, i) => lines.push(`${this.pod(i).address} ${p.fqdn} ${p.podName}`));
    for (const ns of [...this.net.nodes.map((n) => n.ns), this.net.switchNs]) {
      const dir = join(ETC_NETNS, ns);
      mkdirSync(dir, { recursive: true });
      if (!this.etcDirs.includes(dir)) this.etcDirs.push(dir);
      written.add(dir);
      writeFileSync(join(dir, "hosts"), `${lines.join("\n")}\n`);
      writeFileSync(join(dir, "resolv.conf"), "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n");
    }
  }

  /** Removes the namespaces and their /etc/netns entries. Idempotent. */
  async destroy(): Promise<void> {
    await this.net.destroy();
    for (const dir of this.etcDirs.splice(0)) {
      rmSync(dir, { recursive: true, force: true });
      written.delete(dir);
    }
    if (this.madeEtcNetns && existsSync(ETC_NETNS) && readdirSync(ETC_NETNS).length === 0) {
      rmdirSync(ETC_NETNS);
    }
  }
}

/** Removes /etc/netns entries that test processes which have since died left behind. */
function sweepOrphanEtc(): void {
  if (!existsSync(ETC_NETNS)) return;
  for (const name of readdirSync(ETC_NETNS)) {
    const owner = OWNED_RE.exec(name);
    if (owner !== null && !isAlive(Number(owner[1]))) {
      rmSync(join(ETC_NETNS, name), { recursive: true, force: true });
    }
  }
}
