// Reads `perf report` output of the daemons (Linux perf, system-wide sampling of every thread, JIT frames
// named through node's --perf-basic-prof-only-functions) and totals it by where the CPU went. V8's own
// sampling profiler (cpu-profile.ts) sees JavaScript only: its "(program)" and "(native)" rows, a fifth of a
// daemon's time at 1 in flight, hide V8's builtins and runtime, the compiler and GC threads, libuv, nghttp2,
// malloc and the kernel. Perf sees all of them, which is what tells faster JavaScript from fewer wake-ups.

/** One line of `perf report --no-children --sort dso,sym -g none --stdio`. */
export interface PerfSymbol {
  /** Share of all samples, in percent. */
  readonly percent: number;
  /** The shared object: node, libc.so.6, [kernel.kallsyms], [JIT] tid N... */
  readonly dso: string;
  /** "k" for kernel code, "." for user space. */
  readonly mode: "k" | ".";
  readonly symbol: string;
}

export interface CategoryShare {
  readonly category: string;
  readonly percent: number;
}

const LINE = /^\s*([\d.]+)%\s+(.+?)\s+\[([k.])\]\s+(.*?)\s*$/;

/** The symbol lines of a perf report; comments, blank lines and anything else are skipped. */
export function parsePerfReport(text: string): PerfSymbol[] {
  const symbols: PerfSymbol[] = [];
  for (const line of text.split("\n")) {
    if (line.startsWith("#")) continue;
    const m = LINE.exec(line);
    if (m === null) continue;
    symbols.push({ percent: Number(m[1]), dso: m[2]!, mode: m[3] === "k" ? "k" : ".", symbol: m[4]! });
  }
  return symbols;
}

/**
 * Where a sample's time went, coarsely: the kernel; JavaScript compiled by V8 (Wendy's own by source folder,
 * else the package or Node.js's internals); V8's builtins (property-access inline caches apart: they run
 * where code meets objects of many shapes); V8's compiler, garbage collector and other runtime code;
 * HTTP/2 (nghttp2 and Node's binding); libuv and the rest of Node's C++; malloc and memory copies; crypto.
 */
export function categoryOf(s: PerfSymbol): string {
  if (s.mode === "k" || s.dso.startsWith("[kernel")) return "kernel";
  const sym = s.symbol;
  if (sym.startsWith("JS:")) return javaScriptCategory(sym);
  if (sym.startsWith("Builtins_")) {
    return /IC(_|Trampoline|Baseline|$)|Megamorphic/.test(sym)
      ? "V8 builtins: property access (inline caches)"
      : "V8 builtins: other";
  }
  if (/v8::internal::(compiler|maglev|baseline)::|Compiler|Compile|Parser|Scanner/.test(sym))
    return "V8 compiler";
  if (
    /Scaveng|Sweep|Marking|MarkCompact|Evacuat|Heap::|HeapObject|MemoryAllocator|RememberedSet|Remembered|\bGC\b|GCTracer|ConcurrentMarking/.test(
      sym,
    )
  )
    return "V8 garbage collector";
  if (/nghttp2|node::http2::/.test(sym)) return "HTTP/2 (nghttp2, node::http2)";
  if (/sha256|SHA256|OPENSSL|EVP_|CRYPTO_|HMAC/.test(sym) || /libcrypto|libssl/.test(s.dso)) return "crypto";
  if (/^v8::|^V8|^Runtime_/.test(sym)) return "V8 runtime (C++)";
  if (/^node::|^uv_|^uv__/.test(sym)) return "Node.js and libuv (C++)";
  if (/^libc\.|^libstdc\+\+|^libm\./.test(s.dso)) return "libc (malloc, free, copies)";
  return "other";
}

function javaScriptCategory(sym: string): string {
  const wendy = /\/dist\/(src\/[^/]+(?:\/[^/:]+)?)\//.exec(sym) ?? /\/dist\/(src)\/[^/]+:/.exec(sym);
  if (wendy !== null) return `JavaScript: Wendy ${wendy[1]!}`;
  const pkg = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(sym);
  if (pkg !== null) return `JavaScript: ${pkg[1]!}`;
  if (/ node:/.test(sym)) return "JavaScript: Node.js internals";
  return "JavaScript: other";
}

/** Percent of all samples per category, largest first. */
export function summarizeByCategory(symbols: readonly PerfSymbol[]): CategoryShare[] {
  const totals = new Map<string, number>();
  for (const s of symbols) {
    const c = categoryOf(s);
    totals.set(c, (totals.get(c) ?? 0) + s.percent);
  }
  return [...totals]
    .map(([category, percent]) => ({ category, percent }))
    .sort((a, b) => b.percent - a.percent);
}

/** The share of all samples in Wendy's own JavaScript (every "JavaScript: Wendy ..." category). */
export function wendyJavaScriptPercent(shares: readonly CategoryShare[]): number {
  return shares.filter((s) => s.category.startsWith("JavaScript: Wendy")).reduce((a, s) => a + s.percent, 0);
}
