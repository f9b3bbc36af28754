// Entry point of a relay process (started by RelayProcess inside a test network's switch namespace).
// Configuration comes as JSON in WENDY_RELAY; prints "listening <port>"; exits when its parent closes
// stdin, on SIGTERM, or when its lifetime ends, whichever comes first.
import { DelayingRelay, type RelayOptions } from "./relay.js";

const options = JSON.parse(process.env.WENDY_RELAY ?? "{}") as RelayOptions;
const relay = new DelayingRelay(options);
const port = await relay.listen();
process.stdout.write(`listening ${port}\n`);

const exit = (): void => {
  void relay.close().finally(() => process.exit(0));
};
process.stdin.on("end", exit);
process.stdin.on("close", exit);
process.stdin.resume();
process.once("SIGTERM", exit);
setTimeout(exit, (options.lifetimeMs ?? 600_000) + 1000).unref();
