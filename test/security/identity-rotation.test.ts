// Per-node identities through a certificate renewal: each daemon holds its own certificate naming its node
// (wendy://name/<node name>, as cert-manager's csi-driver writes it); each is renewed on disk (new key, same
// node) while the ring runs. Running daemons serve the new certificates without a restart, stay ready, and a
// node that joins afterwards, over connections that only see renewed certificates, gets a whole leaf set.
import { afterAll, expect, it } from "vitest";
import { eventually } from "../daemon/probes.js";
import { testSecret } from "../helpers/secrets.js";
import { expectStillReady, joinedLeafSet, RenewedCertificates } from "./lib/renewed-certificates.js";

const renewal = new RenewedCertificates("identity-rotation");
const { certs } = renewal;
afterAll(() => renewal.remove());

const NAMES = ["idrot-0", "idrot-1", "idrot-2"];

it("renewed per-node certificates are served without a restart, and the ring stays whole", async () => {
  certs.ca("ca");
  certs.nodeLeaf("probe", "ca", "00".repeat(16));
  for (const name of NAMES) {
    for (const generation of ["old", "new"])
      certs.leaf(`${name}-${generation}`, "ca", `URI:wendy://name/${name},IP:127.0.0.1`);
    renewal.populate(name, `${name}-old`);
  }

  const { ports, first, start } = await renewal.startRing({
    names: NAMES,
    secret: testSecret("identity-rotation"),
    folderPerNode: true,
    nodeIdentity: true,
  });

  for (const [i, name] of NAMES.slice(0, 2).entries()) {
    renewal.install(`${name}-new`, name);
    await eventually(
      `${name} serves its renewed certificate`,
      async () => (await renewal.servedSerial(ports[i]!)) === renewal.serialOf(`${name}-new`),
    );
  }
  // Both kept running through it (same processes, still ready) ...
  await expectStillReady(first);
  // ... and a node holding only a renewed certificate joins them, over connections made after the renewal,
  // whose identities all check out.
  renewal.install(`${NAMES[2]}-new`, NAMES[2]);
  expect((await joinedLeafSet(start(2))).size).toBe(2);
}, 120_000);
