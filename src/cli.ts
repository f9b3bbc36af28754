// The `wendy` program: `start` (the daemon), `demo` (a local cluster of daemons), and the client commands.
// It sits above both the daemon and the client, so that neither imports the other to be part of one program.
import { Command, CommanderError } from "commander";
import { registerClientCommands } from "./client/cli.js";
import { addDemoCommand } from "./server/daemon/demo-command.js";
import { addStartCommand } from "./server/daemon/start-command.js";
import { versionLine } from "./server/daemon/version.js";

/** Usage errors (unknown flag, missing value) exit 2, like a bad setting. */
export const USAGE_ERROR_EXIT_CODE = 2;

export function buildProgram(): Command {
  const program = new Command("wendy")
    .description("Wendy: a Pastry key-based routing overlay for microservices, over gRPC")
    .version(versionLine())
    .showHelpAfterError("(run with --help for usage)");
  addStartCommand(program);
  addDemoCommand(program);
  registerClientCommands(program);
  return program;
}

export async function main(argv: readonly string[] = process.argv): Promise<void> {
  const program = buildProgram();
  program.exitOverride();
  for (const command of program.commands) command.exitOverride();
  try {
    await program.parseAsync([...argv]);
  } catch (error) {
    if (error instanceof CommanderError) {
      const benign = ["commander.helpDisplayed", "commander.version", "commander.help"].includes(error.code);
      process.exit(benign ? 0 : USAGE_ERROR_EXIT_CODE);
    }
    throw error;
  }
}
