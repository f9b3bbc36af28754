// The chart's StatefulSet rehearsed with per-node identities turned on as a user turns them on
// (identity.enabled with a cert-manager issuer), each pod holding the certificate cert-manager's csi-driver
// would issue it (statefulset-rehearsal.ts, cert-manager-csi.ts).
//
// By default the core scenarios run (ring whole, routing, delivery to the applications, a pod deleted and
// back, a pod killed and restarted, a scale to six and back): the whole rehearsal a second time would add
// about two minutes to `make test` on a loaded 2-core machine (the core ones take 60-90 s there, 30 s of it
// starting the five pods). WENDY_REHEARSAL_IDENTITIES=all runs every scenario, as the default rehearsal
// (statefulset.test.ts) does without identities.
import { rehearseStatefulSet } from "./statefulset-rehearsal.js";

const ALL = process.env["WENDY_REHEARSAL_IDENTITIES"] === "all";

rehearseStatefulSet({ identities: true, scenarios: ALL ? "all" : "core" });
