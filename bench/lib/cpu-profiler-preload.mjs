// Preloaded into a daemon (NODE_OPTIONS=--import; --cpu-prof is not allowed there). The first SIGUSR2
// starts the V8 sampling profiler on the main thread, the second stops it and writes
// <BENCH_CPU_PROFILE_DIR>/<pid>.cpuprofile, so the profile covers the load window, not start-up.
import { writeFileSync } from "node:fs";
import { Session } from "node:inspector";
import { join } from "node:path";

const dir = process.env.BENCH_CPU_PROFILE_DIR;
if (dir !== undefined && dir !== "") {
  const session = new Session();
  session.connect();
  session.post("Profiler.enable");
  // V8 samples every 1,000 µs by default: too coarse for a path of a few hundred µs per message.
  const interval = Number(process.env.BENCH_CPU_PROFILE_INTERVAL_US ?? "");
  if (interval > 0) session.post("Profiler.setSamplingInterval", { interval });
  let running = false;
  process.on("SIGUSR2", () => {
    if (!running) {
      running = true;
      session.post("Profiler.start");
      return;
    }
    running = false;
    session.post("Profiler.stop", (error, result) => {
      if (error === null)
        writeFileSync(join(dir, `${process.pid}.cpuprofile`), JSON.stringify(result.profile));
    });
  });
}
