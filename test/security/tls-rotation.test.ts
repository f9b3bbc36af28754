// A certificate renewed on disk (as cert-manager does) is picked up by running daemons without a restart:
// new connections see the new certificate, and the ring stays whole: the nodes stay ready and a node that
// only holds the new certificate joins them.
import { afterAll, expect, it } from "vitest";
import { eventually } from "../daemon/probes.js";
import { testSecret } from "../helpers/secrets.js";
import { expectStillReady, joinedLeafSet, RenewedCertificates } from "./lib/renewed-certificates.js";

const renewal = new RenewedCertificates("rotation");
const { certs } = renewal;
afterAll(() => renewal.remove());

it("a renewed certificate on disk is served without a restart, and the ring stays whole", async () => {
  certs.ca("ca");
  for (const leaf of ["old", "new", "probe"]) certs.leaf(leaf, "ca");
  renewal.populate("", "old");

  const { ports, first, start } = await renewal.startRing({
    names: ["rot-0", "rot-1", "rot-2"],
    secret: testSecret("rotation"),
    folderPerNode: false,
    nodeIdentity: false,
  });
  await eventually(
    "the old certificate is served",
    async () => (await renewal.servedSerial(ports[0]!)) === renewal.serialOf("old"),
  );

  renewal.install("new");
  for (const port of ports.slice(0, 2)) {
    await eventually(
      "the new certificate is served",
      async () => (await renewal.servedSerial(port)) === renewal.serialOf("new"),
    );
  }
  // Both kept running through it (same processes, still ready) ...
  await expectStillReady(first);
  // ... and a node holding only the new certificate joins them, over connections made after the renewal.
  expect((await joinedLeafSet(start(2))).size).toBe(2);
}, 120_000);
