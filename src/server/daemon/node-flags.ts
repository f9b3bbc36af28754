// The Node.js flags a daemon process is started with: by the container image (Dockerfile ENTRYPOINT, checked
// against this list by test/helm/dockerfile.test.ts), by `wendy demo`, and by the benchmarks, which measure
// the daemon as the image runs it.
//
// --v8-pool-size=1: one V8 worker thread instead of four. V8 hands parallel scavenges, concurrent marking and
// compile jobs to its workers; a sidecar shares its pod's cores with the service beside it (and, on the
// benchmark machine, 16 daemons share 2 cores), where more helper threads mostly add wake-ups and context
// switches. bench/ab.ts, 8 daemons a side, Sends at a fixed rate, the same commit with and without the flag:
// 920 against 1,111 µs of daemon CPU per message at 1,000/s (p50 5.64 against 6.18 ms) and 1,350 against
// 1,477 µs at 300/s, where an A/A run of the same tool read 1,157 against 1,137; idle RSS 64.0 against
// 65.2 MiB. Timers, and so failure detection, do not depend on it.
export const DAEMON_NODE_FLAGS: readonly string[] = Object.freeze(["--v8-pool-size=1"]);
