// `wendy demo`: a local cluster of real daemons, routing checked against the numerically closest node.
import { Command, InvalidArgumentError } from "commander";
import { DEFAULT_DEMO_OPTIONS, runDemo } from "./demo/demo.js";
import { asError } from "../../shared/as-error.js";

function integerIn(min: number, max: number, flag: string): (value: string) => number {
  return (value) => {
    const n = /^\d+$/.test(value) ? Number(value) : NaN;
    if (!Number.isInteger(n) || n < min || n > max)
      throw new InvalidArgumentError(
        `${flag} must be an integer in ${min}..${max}, got ${JSON.stringify(value)}`,
      );
    return n;
  };
}

export function addDemoCommand(program: Command): Command {
  return program
    .command("demo")
    .summary("run a local cluster of daemons and show routing and healing")
    .description(
      "start a local cluster of wendy daemons on 127.0.0.1, route messages, crash one node, watch the\n" +
        "leaf sets heal, then stop everything (exit 0 when every message reached its owner)",
    )
    .option(
      "--nodes <n>",
      "daemons to start (4..12)",
      integerIn(4, 12, "--nodes"),
      DEFAULT_DEMO_OPTIONS.nodes,
    )
    .option(
      "--messages <n>",
      "messages to route each round (1..50)",
      integerIn(1, 50, "--messages"),
      DEFAULT_DEMO_OPTIONS.messages,
    )
    .action(async (flags: { nodes: number; messages: number }) => {
      try {
        await runDemo({
          nodes: flags.nodes,
          messages: flags.messages,
          leafSetSize: DEFAULT_DEMO_OPTIONS.leafSetSize,
          print: (line) => process.stdout.write(line + "\n"),
        });
      } catch (error) {
        process.stderr.write(`wendy demo failed: ${asError(error).message}\n`);
        process.exit(1);
      }
    });
}
