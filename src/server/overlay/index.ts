// The client-facing Overlay service: what the daemon mounts on its client port.
export { addOverlayService, overlayServerOptions } from "./overlay-service.js";
export type { OverlayServiceHandle, OverlayServiceOptions } from "./overlay-service.js";
export { DEFAULT_OVERLAY_LIMITS, type OverlayLimits } from "./limits.js";
export { OVERLAY_SERVICE_NAME } from "./health.js";
