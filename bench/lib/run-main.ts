// How a bench script runs its main: it ends through process.exit (on success, failure, SIGINT or SIGTERM),
// so that the exit hook of lib/cluster.ts stops every daemon the run started; a failure prints its stack.
export function runMain(name: string, main: (argv: readonly string[]) => Promise<void>): void {
  for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => process.exit(130));
  main(process.argv).then(
    () => process.exit(0),
    (error: unknown) => {
      process.stderr.write(
        `${name} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
      );
      process.exit(1);
    },
  );
}
