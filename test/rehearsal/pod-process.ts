// One "pod": the plan's command run in the pod's network namespace the way a container runtime would run it:
// its own mount namespace (from `ip netns exec`) and root directory, with the image's files and the pod's
// volumes at their paths, the pod's user and groups, no capabilities, no privilege escalation, and only the
// pod's environment.
//
// Not simulated: readOnlyRootFilesystem (the pod's root binds the host's directories, writable as they are
// on the host), the seccomp profile, and resource limits.
import { spawn, type ChildProcess } from "node:child_process";
import {
  chmodSync,
  chownSync,
  createWriteStream,
  existsSync,
  mkdirSync,
  readdirSync,
  readlinkSync,
  rmSync,
  symlinkSync,
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
        cwd: "/",
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

  /**
   * The shell script that builds the pod's root and then execs the program in it as the pod's user. The pod's
   * root is a directory of its own holding the host's top-level directories (recursive binds, so the
   * namespace's /etc/hosts comes along), the image's files at their image path and the volumes at their mount
   * paths; the program is chrooted into it. So a volume mounted over, say, /tmp hides nothing the rehearsal
   * itself needs, wherever the checkout lives.
   */
  private sandboxScript(): string {
    const plan = this.plan;
    const fsGroup = plan.supplementalGroups.at(-1) ?? plan.runAsGroup;
    const root = join(this.dir, "root");
    const rootfs = join(this.dir, "rootfs");
    for (const dir of [root, rootfs]) rmSync(dir, { recursive: true, force: true });
    mkdirSync(root);
    const lines = ["set -eu"];
    const inRoot = (path: string): string => join(root, path);
    for (const entry of readdirSync("/", { withFileTypes: true })) {
      const host = `/${entry.name}`;
      if (entry.isSymbolicLink()) symlinkSync(readlinkSync(host), inRoot(host));
      else if (entry.isDirectory() && !plan.mounts.some((m) => m.mountPath === host)) {
        mkdirSync(inRoot(host));
        lines.push(`mount --rbind ${quote(host)} ${quote(inRoot(host))}`);
      }
    }
    // Mount points missing under a bound host directory are made inside a private overlay of their parent,
    // so the host itself is never changed; those right under the pod's root are plain directories of it.
    const missing = plan.mounts.filter((m) => !existsSync(m.mountPath));
    const overlays = [...new Set(missing.map((m) => existingAncestor(m.mountPath)))].filter((d) => d !== "/");
    overlays.forEach((lower, i) => {
      const upper = join(rootfs, String(i), "upper");
      const work = join(rootfs, String(i), "work");
      mkdirSync(upper, { recursive: true });
      mkdirSync(work, { recursive: true });
      lines.push(
        `mount -t overlay overlay -o ${quote(`lowerdir=${lower},upperdir=${upper},workdir=${work}`)} ${quote(inRoot(lower))}`,
      );
    });
    // The overlay hides what `ip netns exec` bound over /etc (the namespace's hosts file): bind it again.
    if (overlays.some((o) => o === "/etc" || "/etc".startsWith(`${o}/`))) {
      lines.push(
        `for f in /etc/netns/${quote(this.netns)}/*; do mount --bind "$f" ${quote(inRoot("/etc"))}/"\${f##*/}"; done`,
      );
    }
    // Parents before children, as the kubelet mounts them.
    const ordered = plan.mounts.map((mount, i) => ({ mount, i }));
    ordered.sort((a, b) => a.mount.mountPath.split("/").length - b.mount.mountPath.split("/").length);
    for (const { mount, i } of ordered) {
      const target = inRoot(mount.mountPath);
      lines.push(`mkdir -p ${quote(target)}`);
      lines.push(`mount --bind ${quote(this.volumeDir(mount, i, fsGroup))} ${quote(target)}`);
      if ((mount.kind === "secret" || mount.kind === "csi") && mount.readOnly)
        lines.push(`mount -o remount,bind,ro ${quote(target)}`);
    }
    const setpriv = [
      "setpriv",
      `--reuid=${plan.runAsUser}`,
      `--regid=${plan.runAsGroup}`,
      `--groups=${plan.supplementalGroups.join(",")}`,
      ...(plan.noNewPrivileges ? ["--no-new-privs"] : []),
      ...(plan.dropAllCapabilities ? ["--inh-caps=-all", "--bounding-set=-all"] : []),
      "--",
    ];
    // Inside the root: the working directory, then the pod's user and the program ("$0" is the directory).
    const enter = `cd "$0" && exec ${setpriv.join(" ")} "$@"`;
    lines.push(`exec chroot ${quote(root)} /bin/sh -c ${quote(enter)} ${quote(plan.cwd)} "$@"`);
    return lines.join("\n");
  }

  /**
   * The host directory standing for one volume. emptyDir lives as long as the pod (it survives a container
   * restart), owned by the fsGroup with the setgid bit as the kubelet makes it; its sizeLimit is enforced by
   * eviction in Kubernetes and not here. A secret volume holds the Secret's items with their modes, a csi
   * volume what its driver wrote; each owned as the volume says.
   */
  private volumeDir(mount: PodMount, index: number, fsGroup: number): string {
    if (mount.kind === "image") return mount.source;
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
    for (const file of mount.files) {
      const path = join(dir, file.path);
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, file.content);
      chownSync(path, 0, mount.group);
      chmodSync(path, file.mode);
    }
    chownSync(dir, 0, mount.group);
    chmodSync(dir, mount.dirMode);
    return dir;
  }
}
