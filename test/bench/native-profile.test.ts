// bench/native-profile.ts reads `perf report --sort dso,sym --stdio`: every line must land in the category
// that owns it, or the report would blame the wrong layer (a Wendy source folder, a package, V8, the kernel).
import { describe, expect, it } from "vitest";
import {
  categoryOf,
  parsePerfReport,
  summarizeByCategory,
  wendyJavaScriptPercent,
} from "../../bench/lib/native-profile.js";

const REPORT = [
  "# To display the perf.data header info, please use --header/--header-only options.",
  "#",
  "# Samples: 13K of event 'cpu-clock:pppH'",
  "#",
  "     4.39%  [kernel.kallsyms]    [k] _raw_spin_unlock_irqrestore",
  "     2.68%  node                 [.] Builtins_LoadIC",
  "     1.82%  node                 [.] Builtins_FindOrderedHashMapEntry",
  "     1.36%  libc.so.6            [.] malloc",
  "     0.51%  node                 [.] v8::internal::compiler::GraphReducer::ReduceTop",
  "     0.33%  node                 [.] v8::internal::ArrayBufferSweeper::SweepingJob::SweepYoung",
  "     0.72%  node                 [.] v8::internal::(anonymous namespace)::Invoke",
  "     0.29%  node                 [.] nghttp2_session_mem_recv2",
  "     0.31%  node                 [.] node::http2::Http2Session::FindStream",
  "     0.48%  node                 [.] sha256_block_data_order_shaext",
  "     0.25%  node                 [.] uv__io_poll",
  "     0.14%  [JIT] tid 20581      [.] JS:* file:///tmp/wendy-bench-build-2Fc5bo/dist/src/server/transport/route-stream-server.js:76:21",
  "     0.09%  [JIT] tid 20581      [.] JS:*closerOutsideLeafSet file:///tmp/wendy-bench-build-2Fc5bo/dist/src/routing/router.js:64:30",
  "     0.05%  [JIT] tid 20581      [.] JS:*main file:///tmp/wendy-bench-build-2Fc5bo/dist/src/index.js:3:1",
  "     0.14%  [JIT] tid 20583      [.] JS:*handleDataFrame /work/main/node_modules/@grpc/grpc-js/build/src/server-interceptors.js:605:20",
  "     0.12%  [JIT] tid 20583      [.] JS:*concat node:buffer:577:32",
  "",
].join("\n");

describe("perf report of the daemons, by category", () => {
  const symbols = parsePerfReport(REPORT);

  it("reads every symbol line, with a [JIT] tid dso holding spaces, and skips comments and blanks", () => {
    expect(symbols).toHaveLength(16);
    expect(symbols[0]).toEqual({
      percent: 4.39,
      dso: "[kernel.kallsyms]",
      mode: "k",
      symbol: "_raw_spin_unlock_irqrestore",
    });
    expect(symbols[11]!.dso).toBe("[JIT] tid 20581");
    expect(symbols[11]!.symbol.startsWith("JS:* file:///tmp/")).toBe(true);
  });

  it("puts each symbol in the layer that owns it", () => {
    const categories = symbols.map(categoryOf);
    expect(categories).toEqual([
      "kernel",
      "V8 builtins: property access (inline caches)",
      "V8 builtins: other",
      "libc (malloc, free, copies)",
      "V8 compiler",
      "V8 garbage collector",
      "V8 runtime (C++)",
      "HTTP/2 (nghttp2, node::http2)",
      "HTTP/2 (nghttp2, node::http2)",
      "crypto",
      "Node.js and libuv (C++)",
      "JavaScript: Wendy src/server/transport",
      "JavaScript: Wendy src/routing",
      "JavaScript: Wendy src",
      "JavaScript: @grpc/grpc-js",
      "JavaScript: Node.js internals",
    ]);
  });

  it("totals categories largest first and sums Wendy's own JavaScript across its folders", () => {
    const shares = summarizeByCategory(symbols);
    expect(shares[0]).toEqual({ category: "kernel", percent: 4.39 });
    expect(shares.find((s) => s.category.startsWith("HTTP/2"))!.percent).toBeCloseTo(0.6, 10);
    expect(wendyJavaScriptPercent(shares)).toBeCloseTo(0.14 + 0.09 + 0.05, 10);
    const total = shares.reduce((a, s) => a + s.percent, 0);
    expect(total).toBeCloseTo(
      symbols.reduce((a, s) => a + s.percent, 0),
      10,
    );
  });
});
