// The client commands as a standalone program, for tests (src/cli.ts mounts the same commands on `wendy`).
import { Command } from "commander";
import { registerClientCommands } from "../../src/client/cli.js";

const program = new Command("wendy").exitOverride((error) => process.exit(error.exitCode));
registerClientCommands(program);
await program.parseAsync(process.argv);
