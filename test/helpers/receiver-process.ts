// A subscribing application as its own OS process, so that a test can kill it (-9) mid-delivery.
// Usage: node --import tsx test/helpers/receiver-process.ts '<json ReceiverConfig>'. Prints one JSON line
// per event: {"event":"connected"} (attachWhenTold only), {"event":"ready"}, {"event":"delivery",...} and,
// when it acknowledges, {"event":"acked",...}.
import { createInterface } from "node:readline";
import { WendyClient } from "../../src/client/index.js";

export interface ReceiverConfig {
  /** The node's client address. */
  readonly address: string;
  readonly purposes: readonly number[];
  readonly group?: string;
  /** Acknowledge each delivery once printed (true), or hold every one unacknowledged (false). */
  readonly ack: boolean;
  /** With ack: answer calls with this text (a Reply acknowledges the call). */
  readonly reply?: string;
  /**
   * Connect, print "connected", and subscribe only once the line "attach" comes on stdin: a test then
   * chooses the moment the subscriber attaches, whatever the process's start-up took.
   */
  readonly attachWhenTold?: boolean;
}

export type ReceiverEvent =
  | { readonly event: "connected" }
  | { readonly event: "ready" }
  | {
      readonly event: "delivery";
      readonly messageId: string;
      readonly attempt: number;
      readonly payload: string;
      readonly callId?: string;
    }
  | { readonly event: "acked"; readonly messageId: string };

const config = JSON.parse(process.argv[2] ?? "{}") as ReceiverConfig;
const print = (e: ReceiverEvent): boolean => process.stdout.write(JSON.stringify(e) + "\n");

/** Resolves when `line` comes on stdin. */
async function told(line: string): Promise<void> {
  for await (const input of createInterface({ input: process.stdin })) if (input === line) return;
  throw new Error(`stdin ended before "${line}"`);
}

const client = new WendyClient(config.address);
if (config.attachWhenTold === true) {
  // One round trip first: the channel is up and the client's code loaded, so attaching costs one more.
  await client.status();
  print({ event: "connected" });
  await told("attach");
}
const stream = client.receive(config.purposes, { group: config.group ?? "" });
await stream.ready;
print({ event: "ready" });
for await (const d of stream) {
  print({
    event: "delivery",
    messageId: d.messageId,
    attempt: d.attempt,
    payload: Buffer.from(d.payload).toString(),
    ...(d.callId === undefined ? {} : { callId: d.callId }),
  });
  if (!config.ack) continue;
  if (d.callId !== undefined && config.reply !== undefined) await client.reply(d.callId, config.reply);
  else d.ack();
  print({ event: "acked", messageId: d.messageId });
}
