// One "pod": the plan's command run in the pod's network namespace the way a container runtime would run it:
// its own mount namespace (from `ip netns exec`) with the pod's volumes at their mount paths, the pod's user
// and groups, no capabilities, no privilege escalation, and only the pod's environment.
//
// Not simulated: readOnlyRootFilesystem (the program runs from the host's root, which cannot be made
// read-only for one process without a container image), the seccomp profile, and resource limits.
import { spawn, type ChildProcess } from "node:child_process";
import {
  chmodSync,
  chownSync,
  createWriteStream,
  existsSync,
  mkdirSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import type { PodMount, PodPlan } from "./pod-spec.js";

const live = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of live) child.kill("SIGKILL");
});

/** One JSON log line of the daemon, tagged with the container run (0, 1, ...) that wrote it. */
export interface LogLine {
  readonly run: number;
  readonly fields: Readonly<Record<string, unknown>>;
}

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

function quote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/** The deepest existing directory above `path` (where a missing mount point can be made). */
function existingAncestor(path: string): string {
  let dir = dirname(path);
  while (!existsSync(dir)) dir = dirname(dir);
  return dir;
}

export class PodProcess {
  readonly logs: LogLine[] = [];
  private child: ChildProcess | undefined;
  private exitPromise: Promise<Exit> | undefined;
  private runs = 0;
  private stderrTail = "";

  constructor(
    readonly plan: PodPlan,
    /** The network namespace standing for the pod's network. */
    readonly netns: string,
    /** A private directory on the host for this pod's volumes and logs. */
    private readonly dir: string,
  ) {}

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Which container run is current (0 for the first start). */
  get run(): number {
    return this.runs - 1;
  }

  /** Starts the container. `freshPod`: a new pod (new volumes), not a container restart in the same pod. */
  start(freshPod: boolean): void {
    if (this.running) throw new Error(`${this.plan.podName} is already running`);
    if (freshPod) rmSync(join(this.dir, "volumes"), { recursive: true, force: true });
    const script = this.sandboxScript();
    const run = this.runs++;
    const child = spawn(
      "ip",
      ["netns", "exec", this.netns, "sh", "-c", script, "wendy-pod", ...this.plan.argv],
      {
        env: { ...this.plan.env },
        cwd: this.plan.cwd,
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    live.add(child);
    this.child = child;
    const logFile = createWriteStream(join(this.dir, "container.log"), { flags: "a" });
    createInterface({ input: child.stdout! }).on("line", (line) => {
      logFile.write(`${line}\n`);
      try {
        const fields: unknown = JSON.parse(line);
        if (typeof fields === "object" && fields !== null) {
          this.logs.push({ run, fields: fields as Record<string, unknown> });
        }
      } catch {
        // not a log record (the daemon logs only JSON when stdout is not a terminal); kept in the file
      }
    });
    child.stderr!.on("data", (chunk: Buffer) => {
      logFile.write(chunk);
      this.stderrTail = (this.stderrTail + chunk.toString("utf8")).slice(-2000);
    });
    this.exitPromise = new Promise((resolve) =>
      child.once("exit", (code, signal) => {
        live.delete(child);
        logFile.end();
        resolve({ code, signal });
      }),
    );
  }

  /** Resolves when the current container has exited. */
  exited(): Promise<Exit> {
    if (this.exitPromise === undefined) throw new Error(`${this.plan.podName} was never started`);
    return this.exitPromise;
  }

  signal(signal: NodeJS.Signals): void {
    if (this.running) this.child?.kill(signal);
  }

  /**
   * What the kubelet does to delete the pod: SIGTERM, then SIGKILL once terminationGracePeriodSeconds have
   * passed. Returns how it ended and whether the grace period ran out.
   */
  async terminate(): Promise<Exit & { readonly graceExpired: boolean; readonly ms: number }> {
    const started = performance.now();
    this.signal("SIGTERM");
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<"expired">((resolve) => {
      timer = setTimeout(() => resolve("expired"), this.plan.terminationGracePeriodSeconds * 1000);
    });
    const first = await Promise.race([this.exited(), expired]);
    clearTimeout(timer);
    if (first === "expired") {
      this.signal("SIGKILL");
      return { ...(await this.exited()), graceExpired: true, ms: performance.now() - started };
    }
    return { ...first, graceExpired: false, ms: performance.now() - started };
  }

  /** The end of the container's stderr, for failure messages. */
  get stderr(): string {
    return this.stderrTail;
  }

  /** The log records of one container run. */
  records(run: number): Readonly<Record<string, unknown>>[] {
    return this.logs.filter((l) => l.run === run).map((l) => l.fields);
  }

  /** The shell script that builds the pod's mounts and then execs the program as the pod's user. */
  private sandboxScript(): string {
    const plan = this.plan;
    const fsGroup = plan.supplementalGroups.at(-1) ?? plan.runAsGroup;
    const lines = ["set -eu"];
    // Mount points missing from the host's tree are made inside a private overlay of their parent, so the
    // host itself is never changed.
    const overlays = [
      ...new Set(
        plan.mounts.filter((m) => !existsSync(m.mountPath)).map((m) => existingAncestor(m.mountPath)),
      ),
    ];
    const rootfs = join(this.dir, "rootfs");
    rmSync(rootfs, { recursive: true, force: true });
    overlays.forEach((lower, i) => {
      if (lower === "/") throw new Error(`cannot make a mount point under / for ${plan.podName}`);
      const upper = join(rootfs, String(i), "upper");
      const work = join(rootfs, String(i), "work");
      mkdirSync(upper, { recursive: true });
      mkdirSync(work, { recursive: true });
      lines.push(
        `mount -t overlay overlay -o ${quote(`lowerdir=${lower},upperdir=${upper},workdir=${work}`)} ${quote(lower)}`,
      );
    });
    // The overlay hides what `ip netns exec` bound over /etc (the namespace's hosts file): bind it again.
    if (overlays.some((o) => o === "/etc" || "/etc".startsWith(`${o}/`))) {
      lines.push(`for f in /etc/netns/${quote(this.netns)}/*; do mount --bind "$f" "/etc/\${f##*/}"; done`);
    }
    // A mount over a directory above this pod's host directory (e.g. /tmp) would hide the other volumes'
    // sources: it goes last.
    const hidesSources = (m: PodMount): number => (`${this.dir}/`.startsWith(`${m.mountPath}/`) ? 1 : 0);
    const ordered = plan.mounts.map((mount, i) => ({ mount, i }));
    ordered.sort((a, b) => hidesSources(a.mount) - hidesSources(b.mount));
    ordered.forEach(({ mount, i }) => {
      const source = this.volumeDir(mount, i, fsGroup);
      lines.push(`mkdir -p ${quote(mount.mountPath)}`);
      lines.push(`mount --bind ${quote(source)} ${quote(mount.mountPath)}`);
      if (mount.kind === "secret" && mount.readOnly) {
        lines.push(`mount -o remount,bind,ro ${quote(mount.mountPath)}`);
      }
    });
    lines.push(`cd ${quote(plan.cwd)}`);
    const setpriv = [
      "setpriv",
      `--reuid=${plan.runAsUser}`,
      `--regid=${plan.runAsGroup}`,
      `--groups=${plan.supplementalGroups.join(",")}`,
      ...(plan.noNewPrivileges ? ["--no-new-privs"] : []),
      ...(plan.dropAllCapabilities ? ["--inh-caps=-all", "--bounding-set=-all"] : []),
      "--",
    ];
    lines.push(`exec ${setpriv.join(" ")} "$@"`);
    return lines.join("\n");
  }

  /**
   * The host directory standing for one volume. emptyDir lives as long as the pod (it survives a container
   * restart), owned by the fsGroup with the setgid bit as the kubelet makes it; its sizeLimit is enforced by
   * eviction in Kubernetes and not here. A secret volume holds the Secret's items with their modes.
   */
  private volumeDir(mount: PodMount, index: number, fsGroup: number): string {
    const dir = join(this.dir, "volumes", String(index));
    if (mount.kind === "emptyDir") {
      if (!existsSync(dir)) {
        mkdirSync(dir, { recursive: true });
        chownSync(dir, 0, fsGroup);
        chmodSync(dir, 0o2777);
      }
      return dir;
    }
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    chownSync(dir, 0, fsGroup);
    chmodSync(dir, 0o755);
    for (const file of mount.files) {
      const path = join(dir, file.path);
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, file.content);
      chownSync(path, 0, fsGroup);
      chmodSync(path, file.mode);
    }
    return dir;
  }
}
