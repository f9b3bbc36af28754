// The rehearsal's own rules, checked without namespaces: Kubernetes' variable expansion, reading the image's
// Dockerfile, which pod may rightly deliver a message while another leaves and returns, and what the
// stand-in of cert-manager's csi-driver issues.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { X509Certificate } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { NodeId } from "../../src/routing/id.js";
import { DAEMON_NODE_FLAGS } from "../../src/server/daemon/node-flags.js";
import { REPO_ROOT } from "../helm/helm.js";
import { ownerOf, presenceDuring, rightfulOwners, type Absence, type Pod } from "./ownership.js";
import { CertManagerCsi, goDurationSeconds } from "./cert-manager-csi.js";
import { expandKubernetes, readImageConfig, type CsiVolumeRequest } from "./pod-spec.js";

describe("Kubernetes $(VAR) expansion", () => {
  const vars = new Map([
    ["POD_NAME", "wendy-3"],
    ["PORT", "7070"],
  ]);
  const expand = (s: string): string => expandKubernetes(s, (n) => vars.get(n));

  it("substitutes defined variables and leaves unknown ones as written", () => {
    expect(expand("$(POD_NAME).wendy-headless:$(PORT)")).toBe("wendy-3.wendy-headless:7070");
    expect(expand("$(POD_IP):$(PORT)")).toBe("$(POD_IP):7070");
  });

  it("reads $$ as a literal dollar, and a lone or unclosed $ as text", () => {
    expect(expand("$$(POD_NAME)")).toBe("$(POD_NAME)");
    expect(expand("cost $5 $")).toBe("cost $5 $");
    expect(expand("$(POD_NAME")).toBe("$(POD_NAME");
  });
});

describe("the image's Dockerfile", () => {
  it("gives the runtime stage's entry point, command, user and environment", () => {
    const image = readImageConfig(readFileSync(join(REPO_ROOT, "Dockerfile"), "utf8"));
    expect(image.entrypoint).toEqual(["node", ...DAEMON_NODE_FLAGS, "/app/bin/wendy.js"]);
    expect(image.cmd).toEqual(["start"]);
    expect(image.workdir).toBe("/app");
    expect(image.user).toBe("10001:10001");
    expect(image.env).toEqual({ NODE_ENV: "production" });
  });

  it("only takes the last stage and refuses a shell-form entry point", () => {
    const text = ["FROM a AS build", 'ENTRYPOINT ["build"]', "FROM b", "USER 7", "ENTRYPOINT run me"];
    expect(() => readImageConfig(text.join("\n"))).toThrow(/exec \(JSON array\) form/);
    expect(readImageConfig(text.slice(0, 4).join("\n"))).toEqual({
      entrypoint: [],
      cmd: [],
      env: {},
      workdir: "/",
      user: "7",
    });
  });
});

describe("the rightful owner of a message while a pod leaves and returns", () => {
  const ring: Pod[] = ["wendy-0", "wendy-1", "wendy-2"].map((podName) => ({
    podName,
    id: NodeId.fromString(podName),
  }));
  const absence: Absence = {
    podName: "wendy-0",
    leavingAt: 100,
    goneAt: 200,
    restartedAt: 300,
    readyAt: 400,
  };
  // A key wendy-0 owns, so that its owner changes while wendy-0 is away.
  const key = Array.from({ length: 200 }, (_, n) => `k${n}`).find(
    (k) => ownerOf(NodeId.fromString(k), ring).podName === "wendy-0",
  )!;
  const successor = ownerOf(NodeId.fromString(key), ring.slice(1)).podName;

  it("is the pod itself before it leaves and after it is ready again", () => {
    expect(rightfulOwners({ key, startedAt: 10, endedAt: 90 }, ring, absence)).toEqual(new Set(["wendy-0"]));
    expect(rightfulOwners({ key, startedAt: 401, endedAt: 420 }, ring, absence)).toEqual(
      new Set(["wendy-0"]),
    );
  });

  it("is the next closest pod while it is gone, and either one across a change", () => {
    expect(presenceDuring({ key, startedAt: 210, endedAt: 290 }, absence)).toBe("absent");
    expect(rightfulOwners({ key, startedAt: 210, endedAt: 290 }, ring, absence)).toEqual(
      new Set([successor]),
    );
    for (const [startedAt, endedAt] of [
      [90, 110],
      [150, 160],
      [290, 310],
      [350, 410],
    ] as const) {
      expect(rightfulOwners({ key, startedAt, endedAt }, ring, absence)).toEqual(
        new Set(["wendy-0", successor]),
      );
    }
  });
});

describe("the stand-in of cert-manager's csi-driver", () => {
  const csi = new CertManagerCsi({ name: "wendy-ca", kind: "ClusterIssuer", group: "cert-manager.io" });
  afterAll(() => csi.remove());
  const request = (attributes: Record<string, string>): CsiVolumeRequest => ({
    driver: "csi.cert-manager.io",
    attributes: {
      "csi.cert-manager.io/issuer-name": "wendy-ca",
      "csi.cert-manager.io/issuer-kind": "ClusterIssuer",
      ...attributes,
    },
    podName: "wendy-3",
    namespace: "ring",
    serviceAccountName: "wendy",
  });

  it("reads Go durations", () => {
    expect(goDurationSeconds("720h")).toBe(720 * 3600);
    expect(goDurationSeconds("1h30m")).toBe(5400);
    expect(() => goDurationSeconds("30d")).toThrow(/not understood/);
  });

  it("issues what the attributes ask, with the pod's names substituted, readable by the fs-group only", () => {
    const volume = csi.publish(
      request({
        "csi.cert-manager.io/uri-sans": "wendy://name/${POD_NAME}",
        "csi.cert-manager.io/dns-names": "${POD_NAME}.wendy-headless.${POD_NAMESPACE}.svc.cluster.local",
        "csi.cert-manager.io/key-usages": "server auth,client auth",
        "csi.cert-manager.io/duration": "48h",
        "csi.cert-manager.io/fs-group": "10001",
      }),
    );
    expect(volume.group).toBe(10001);
    expect(volume.dirMode).toBe(0o550);
    expect(volume.files.map((f) => [f.path, f.mode])).toEqual([
      ["ca.crt", 0o440],
      ["tls.crt", 0o440],
      ["tls.key", 0o440],
    ]);
    const cert = new X509Certificate(volume.files[1]!.content);
    expect(cert.subjectAltName?.split(", ").sort()).toEqual([
      "DNS:wendy-3.wendy-headless.ring.svc.cluster.local",
      "URI:wendy://name/wendy-3",
    ]);
    expect(cert.keyUsage?.sort()).toEqual(["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"]);
    expect(cert.verify(new X509Certificate(csi.caCertificate).publicKey)).toBe(true);
    const days = (Date.parse(cert.validTo) - Date.parse(cert.validFrom)) / 86_400_000;
    expect(Math.round(days)).toBe(2);
  });

  it("refuses another issuer, an attribute it does not simulate, and a variable the driver does not know", () => {
    const names = { "csi.cert-manager.io/uri-sans": "wendy://name/${POD_NAME}" };
    expect(() => csi.publish(request({ ...names, "csi.cert-manager.io/issuer-name": "other" }))).toThrow(
      /no issuer ClusterIssuer\/other/,
    );
    expect(() => csi.publish(request({ ...names, "csi.cert-manager.io/is-ca": "true" }))).toThrow(
      /is-ca is not simulated/,
    );
    expect(() =>
      csi.publish(request({ "csi.cert-manager.io/uri-sans": "wendy://name/${NODE_NAME}" })),
    ).toThrow(/\$\{NODE_NAME\} is not simulated/);
  });

  it("without an fs-group leaves the files to root alone, which a non-root pod cannot read", () => {
    const volume = csi.publish(request({ "csi.cert-manager.io/dns-names": "a.example" }));
    expect(volume.group).toBe(0);
  });
});
