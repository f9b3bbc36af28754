// Checks that the host tools a test needs are installed and work here, before it builds anything with them.
import { spawnSync } from "node:child_process";

/** The first of `commands` that does not run and exit 0, with why; undefined when all do. */
export function firstFailingCommand(
  commands: readonly (readonly string[])[],
): { readonly command: string; readonly why: string } | undefined {
  for (const [program, ...args] of commands) {
    const probe = spawnSync(program!, args, { stdio: "ignore" });
    if (probe.error !== undefined || probe.status !== 0) {
      return {
        command: [program, ...args].join(" "),
        why: probe.error?.message ?? `exit ${probe.status}`,
      };
    }
  }
  return undefined;
}
