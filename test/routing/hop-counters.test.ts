// The routing core counts what it does with failed route hops (retries, parking, reroutes) in stats(), for
// the runtime's metrics.
import { describe, expect, it } from "vitest";
import type { NodeInfo, Output, PeerMessage } from "../../src/routing/types.js";
import { Overlay, randomId, seededRandom } from "./overlay-harness.js";

function routes(outputs: readonly Output[]): { to: NodeInfo | undefined; message: PeerMessage }[] {
  return outputs.flatMap((o) =>
    o.type === "send" && o.out.message.type === "route" ? [{ to: o.out.to, message: o.out.message }] : [],
  );
}

function sevenNodes(): ReturnType<Overlay["live"]> {
  const overlay = new Overlay({ leafSetSize: 8 }, 5);
  const random = seededRandom(8);
  overlay.bootstrap(randomId(random));
  for (let i = 0; i < 6; i++) overlay.join(randomId(random));
  return overlay.live();
}

describe("hop counters in stats()", () => {
  it("count a retry, a parked hop and the resend after the alive verdict; nothing rerouted", () => {
    const [origin, target] = sevenNodes();
    origin!.send(target!.self.id, 16, new Uint8Array(0), {}, 0);
    const hop = routes(origin!.takeOutputs())[0]!;
    const failed = { to: hop.to, address: hop.to!.localAddress, message: hop.message };
    expect(origin!.stats()).toMatchObject({ rerouted: 0, hopRetries: 0, hopsParked: 0, parkedHops: 0 });
    origin!.sendFailed(failed, 1);
    expect(routes(origin!.takeOutputs())).toHaveLength(1);
    expect(origin!.stats()).toMatchObject({ hopRetries: 1, hopsParked: 0, parkedHops: 0 });
    origin!.sendFailed(failed, 2);
    expect(routes(origin!.takeOutputs())).toHaveLength(0);
    expect(origin!.stats()).toMatchObject({ hopRetries: 1, hopsParked: 1, parkedHops: 1 });
    origin!.receive(hop.to!, { type: "probeReply", echoSentAt: 2, leafSet: [], ready: true }, 3);
    expect(routes(origin!.takeOutputs())).toHaveLength(1);
    expect(origin!.stats()).toMatchObject({ rerouted: 0, hopRetries: 2, hopsParked: 1, parkedHops: 0 });
  });

  it("count a hop that could never have arrived (unreachable) as rerouted, not retried", () => {
    const [origin, target] = sevenNodes();
    origin!.send(target!.self.id, 16, new Uint8Array(0), {}, 0);
    const hop = routes(origin!.takeOutputs())[0]!;
    origin!.sendFailed({ to: hop.to, address: hop.to!.localAddress, message: hop.message }, 1, "unreachable");
    origin!.takeOutputs();
    expect(origin!.stats()).toMatchObject({ rerouted: 1, hopRetries: 0, hopsParked: 0, parkedHops: 0 });
  });
});
