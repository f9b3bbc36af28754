// Renewed peer certificates refused under per-node identities (auth/consistent-certificates.ts): a renewal
// that names another node, or none, keeps the certificate in use; the operator hears of it in the log and
// in wendy_certificate_reloads_refused_total, since the next expiry would otherwise cut the node off.
import { onRenewalRefused, type PeerTlsConfig } from "../auth/tls.js";
import type { ClusterOptions } from "./options.js";

/** The log event of a refused reload (the daemon uses the same for its secret and token files). */
export const RELOAD_REFUSED_EVENT = "reload_refused";
export const LOG_CERTIFICATE_REFUSED =
  "the renewed peer certificate does not name this node: the previous certificate stays in use";

/** Logs and counts each renewal of `tls`'s certificate refused for naming another node or none. */
export function reportRenewalRefusals(tls: PeerTlsConfig, options: ClusterOptions): void {
  if (!tls.enabled) return;
  const file = tls.certFile;
  onRenewalRefused(tls, (refusal) => {
    options.metrics?.certificateReloadRefused(refusal.reason);
    options.logger?.warn(
      {
        event: RELOAD_REFUSED_EVENT,
        peer: null,
        file,
        reason: refusal.reason,
        nodeId: refusal.nodeId,
        named: refusal.named ?? null,
        serialNumber: refusal.serialNumber,
      },
      LOG_CERTIFICATE_REFUSED,
    );
  });
}
