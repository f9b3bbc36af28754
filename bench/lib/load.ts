// A closed-loop load generator: keeps `inFlight` operations outstanding, warms up, then measures for a
// fixed time. Each operation resolves with its own latency in milliseconds.

export interface LoadOptions {
  readonly inFlight: number;
  readonly warmupMs: number;
  readonly measureMs: number;
  /** Hook run at the start and end of the measured window (e.g. to read the daemons' CPU time). */
  readonly onWindow?: (edge: "start" | "end") => void;
}

export interface LoadResult {
  /** Operations completed inside the measured window. */
  readonly completed: number;
  readonly failed: number;
  readonly seconds: number;
  readonly perSecond: number;
  readonly latenciesMs: number[];
  /** CPU seconds this process (the load generator and, for routed traffic, the subscribers) used. */
  readonly generatorCpuSeconds: number;
}

/** Runs `operation` in a closed loop; operations failing count as failed and are not retried. */
export async function runLoad(operation: () => Promise<number>, options: LoadOptions): Promise<LoadResult> {
  const latenciesMs: number[] = [];
  let failed = 0;
  let phase: "warmup" | "measure" | "done" = "warmup";

  const worker = async (): Promise<void> => {
    while (phase !== "done") {
      // Operations are counted when they complete inside the window (the warm-up has filled the pipeline),
      // so a window shorter than one operation's latency still measures the steady rate.
      try {
        const latency = await operation();
        if (phase === "measure") latenciesMs.push(latency);
      } catch {
        if (phase === "measure") failed++;
      }
    }
  };

  const workers = Array.from({ length: options.inFlight }, () => worker());
  await sleep(options.warmupMs);
  phase = "measure";
  options.onWindow?.("start");
  const cpuAtStart = process.cpuUsage();
  const windowStart = performance.now();
  await sleep(options.measureMs);
  const windowEnd = performance.now();
  const cpu = process.cpuUsage(cpuAtStart);
  phase = "done";
  options.onWindow?.("end");
  await Promise.all(workers);
  const seconds = (windowEnd - windowStart) / 1000;
  return {
    completed: latenciesMs.length,
    failed,
    seconds,
    perSecond: latenciesMs.length / seconds,
    latenciesMs,
    generatorCpuSeconds: (cpu.user + cpu.system) / 1e6,
  };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
