// The chart's StatefulSet rehearsed as the chart renders it by default (statefulset-rehearsal.ts): every
// scenario.
import { rehearseStatefulSet } from "./statefulset-rehearsal.js";

rehearseStatefulSet({ identities: false, scenarios: "all" });
