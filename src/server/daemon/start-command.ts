// `wendy start`: every setting of docs/configuration.md as a flag, read with flags > environment > config
// file precedence; a bad setting exits 2 with one line naming it.
import { Command, Option } from "commander";
import { ConfigError, CONFIG_ERROR_EXIT_CODE } from "./config-error.js";
import { loadConfig } from "./config.js";
import { Daemon } from "./daemon.js";
import { createLogger } from "./logger.js";
import { handleShutdownSignals } from "./signals.js";
import { VARIABLES, flagName } from "./variables.js";
import { asError } from "../../shared/as-error.js";

export function addStartCommand(program: Command): Command {
  const start = program
    .command("start")
    .summary("run a Wendy node (the daemon)")
    .description(
      "run a Wendy node: the peer port, the client port and /metrics /healthz /readyz.\n" +
        "Every flag has an environment variable (shown) and a config-file key (the flag in camelCase);\n" +
        "flags win over the environment, which wins over the file. See docs/configuration.md.",
    )
    .option("--config <file>", "JSON config file (env WENDY_CONFIG)");
  for (const spec of VARIABLES) {
    const flag = flagName(spec.env);
    const option =
      spec.env === "WENDY_TLS_MUTUAL"
        ? new Option(`--${flag} [true|false]`, `${spec.description} (env ${spec.env})`)
        : new Option(`--${flag} ${spec.valueName}`, `${spec.description} (env ${spec.env})`);
    start.addOption(option);
  }
  start.action(async (flags: Record<string, unknown>) => {
    await runStart(flags);
  });
  return start;
}

async function runStart(flags: Record<string, unknown>): Promise<void> {
  let config;
  try {
    config = loadConfig({ flags, env: process.env });
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`wendy start: ${error.message}\n`);
      process.exit(CONFIG_ERROR_EXIT_CODE);
    }
    throw error;
  }
  const logger = createLogger({ nodeId: config.nodeId.hex, level: config.logLevel });
  const starting = Daemon.start({ config, logger });
  // Installed before the ports are bound, so a signal during start-up still leads to a clean exit.
  handleShutdownSignals({ stop: async () => (await starting).stop(), log: logger });
  try {
    await starting;
  } catch (error) {
    logger.fatal({ event: "start_failed", peer: null, err: asError(error).message }, "could not start");
    process.exit(1);
  }
}
