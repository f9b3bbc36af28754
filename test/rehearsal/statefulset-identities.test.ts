// The chart's StatefulSet rehearsed with per-node identities turned on as a user turns them on
// (identity.enabled with a cert-manager issuer), each pod holding the certificate cert-manager's csi-driver
// would issue it (statefulset-rehearsal.ts, cert-manager-csi.ts).
//
// Every scenario runs, as in the default rehearsal (statefulset.test.ts): on a quiet 2-core machine the core
// ones took 34 s in CI, so the rest costs little there and nothing is skipped. WENDY_REHEARSAL_IDENTITIES=core
// runs only the core ones (ring whole, routing, delivery to the applications, a pod deleted and back, a pod
// killed and restarted, a scale to six and back), for a quicker loop on a loaded machine.
import { rehearseStatefulSet } from "./statefulset-rehearsal.js";

const CORE_ONLY = process.env["WENDY_REHEARSAL_IDENTITIES"] === "core";

rehearseStatefulSet({ identities: true, scenarios: CORE_ONLY ? "core" : "all" });
