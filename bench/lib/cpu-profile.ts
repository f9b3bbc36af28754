// Reads V8 .cpuprofile files (node --cpu-prof) and totals self time per function and per source file.
import { readFileSync } from "node:fs";

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly hitCount?: number;
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly startTime: number;
  readonly endTime: number;
  readonly samples?: readonly number[];
}

export interface SelfTime {
  readonly name: string;
  readonly ms: number;
  readonly share: number;
}

export interface ProfileSummary {
  readonly files: number;
  /** Sampled time that was not idle, over all profiles. */
  readonly busyMs: number;
  readonly byFunction: readonly SelfTime[];
  readonly byArea: readonly SelfTime[];
}

const IDLE = new Set(["(idle)", "(program)"]);

export function summarizeProfiles(paths: readonly string[], top: number): ProfileSummary {
  const byFunction = new Map<string, number>();
  const byArea = new Map<string, number>();
  let busyMs = 0;
  for (const path of paths) {
    const profile = JSON.parse(readFileSync(path, "utf8")) as CpuProfile;
    const samples = profile.samples?.length ?? 0;
    if (samples === 0) continue;
    const msPerSample = (profile.endTime - profile.startTime) / 1000 / samples;
    for (const node of profile.nodes) {
      const hits = node.hitCount ?? 0;
      const frame = node.callFrame;
      if (hits === 0 || IDLE.has(frame.functionName)) continue;
      const ms = hits * msPerSample;
      busyMs += ms;
      const where = shortUrl(frame.url);
      add(byFunction, `${frame.functionName || "(anonymous)"} ${where}:${frame.lineNumber + 1}`, ms);
      add(byArea, area(frame.url, frame.functionName), ms);
    }
  }
  const ranked = (m: Map<string, number>): SelfTime[] =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, ms]) => ({ name, ms, share: busyMs > 0 ? ms / busyMs : 0 }));
  return { files: paths.length, busyMs, byFunction: ranked(byFunction), byArea: ranked(byArea) };
}

function add(map: Map<string, number>, key: string, ms: number): void {
  map.set(key, (map.get(key) ?? 0) + ms);
}

function shortUrl(url: string): string {
  const i = url.lastIndexOf("/node_modules/");
  if (i >= 0) return url.slice(i + "/node_modules/".length);
  const src = url.indexOf("/src/");
  if (src >= 0) return url.slice(src + 1);
  return url === "" ? "(native)" : url;
}

/** A coarse owner of the time: a package, a Wendy source folder, Node internals, or the VM itself. */
function area(url: string, functionName: string): string {
  if (url === "") return functionName.startsWith("(") ? functionName : "(native)";
  const modules = /\/node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (modules !== null) return modules[1]!;
  const src = /\/(src\/[^/]+(?:\/[^/]+)?)\//.exec(url);
  if (src !== null) return src[1]!;
  if (url.startsWith("node:")) return url.split("/").slice(0, 2).join("/");
  return shortUrl(url);
}
