// A memory limit for one benchmark daemon, as a Kubernetes container gets one: a cgroup of its own (v1's
// memory controller, or v2) that the daemon is started in, so that Node sizes its heap for the limit as it
// does in a pod; and afterwards what happened inside it: the peak charged to it and its OOM kills. Linux,
// as root, with a writable cgroup file system; `memoryCgroupSupport` says whether this machine has that.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export const CGROUP_ROOT = "/sys/fs/cgroup";

export type CgroupVersion = "v1" | "v2";

/** Where this machine lets us make memory cgroups, and which kind; or why it does not. */
export function memoryCgroupSupport(
  root = CGROUP_ROOT,
): { readonly version: CgroupVersion; readonly parent: string } | { readonly unsupported: string } {
  const v1 = join(root, "memory");
  if (existsSync(join(v1, "memory.limit_in_bytes"))) return probeWritable("v1", v1);
  const controllers = join(root, "cgroup.subtree_control");
  if (existsSync(controllers)) {
    if (!readFileSync(controllers, "utf8").split(/\s+/).includes("memory"))
      return { unsupported: `${root}: the memory controller is not enabled for child cgroups` };
    return probeWritable("v2", root);
  }
  return { unsupported: `${root}: no cgroup memory controller mounted` };
}

function probeWritable(
  version: CgroupVersion,
  parent: string,
): { readonly version: CgroupVersion; readonly parent: string } | { readonly unsupported: string } {
  const probe = join(parent, `wendy-bench-probe-${String(process.pid)}`);
  try {
    mkdirSync(probe);
    rmdirSync(probe);
    return { version, parent };
  } catch (error) {
    return { unsupported: `${parent} is not writable here: ${(error as Error).message}` };
  }
}

/**
 * Whether a process really runs inside a fresh memory cgroup here and its figures can be read afterwards
 * (undefined), or why not. The layout alone does not tell: a container may show a hierarchy it cannot
 * write, or a kernel without v2's memory.peak.
 */
export function memoryCgroupTrial(root = CGROUP_ROOT): string | undefined {
  let cgroup: MemoryCgroup | undefined;
  try {
    cgroup = MemoryCgroup.create(`wendy-bench-trial-${String(process.pid)}`, 64 * 1024 * 1024, root);
    const { command, args } = cgroup.wrap("/bin/sh", ["-c", "exit 0"]);
    execFileSync(command, args, { stdio: "ignore" });
    cgroup.peakBytes();
    cgroup.oomKills();
    return undefined;
  } catch (error) {
    return (error as Error).message;
  } finally {
    cgroup?.remove();
  }
}

/** One daemon's cgroup: made with its limit before the daemon starts, read after it ran. */
export class MemoryCgroup {
  private constructor(
    readonly version: CgroupVersion,
    readonly path: string,
    readonly limitBytes: number,
  ) {}

  /** Makes the cgroup `name` under this machine's memory hierarchy with a hard limit of `limitBytes`. */
  static create(name: string, limitBytes: number, root = CGROUP_ROOT): MemoryCgroup {
    if (!(Number.isInteger(limitBytes) && limitBytes > 0)) throw new RangeError(`bad limit ${limitBytes}`);
    const support = memoryCgroupSupport(root);
    if ("unsupported" in support) throw new Error(`no memory cgroups: ${support.unsupported}`);
    const path = join(support.parent, name);
    mkdirSync(path);
    const limitFile = support.version === "v1" ? "memory.limit_in_bytes" : "memory.max";
    writeFileSync(join(path, limitFile), String(limitBytes));
    // No swap to spill into (a pod has none by default): at the limit, the kernel reclaims or kills.
    if (support.version === "v2" && existsSync(join(path, "memory.swap.max")))
      writeFileSync(join(path, "memory.swap.max"), "0");
    return new MemoryCgroup(support.version, path, limitBytes);
  }

  /**
   * `command args` run inside this cgroup from their first instruction: a shell moves itself in and then
   * execs the command, so the process (and the heap size Node picks at start) never lives outside it.
   */
  wrap(command: string, args: readonly string[]): { command: string; args: string[] } {
    const procs = join(this.path, "cgroup.procs");
    return { command: "/bin/sh", args: ["-c", 'echo $$ > "$0" && exec "$@"', procs, command, ...args] };
  }

  /** The most memory ever charged to the cgroup (anonymous memory and the page cache it brought in). */
  peakBytes(): number {
    const file = this.version === "v1" ? "memory.max_usage_in_bytes" : "memory.peak";
    const peak = Number.parseInt(readFileSync(join(this.path, file), "utf8"), 10);
    if (!Number.isFinite(peak)) throw new Error(`${join(this.path, file)}: no number`);
    return peak;
  }

  /** How many times the kernel killed a process of this cgroup for exceeding the limit. */
  oomKills(): number {
    const file = this.version === "v1" ? "memory.oom_control" : "memory.events";
    const match = /^oom_kill (\d+)$/m.exec(readFileSync(join(this.path, file), "utf8"));
    return match === null ? 0 : Number.parseInt(match[1] as string, 10);
  }

  /** Removes the cgroup once nothing runs in it (a cgroup still holding a process stays). */
  remove(): void {
    try {
      rmdirSync(this.path);
    } catch {
      // Still busy or gone already: the next run's names differ.
    }
  }
}
