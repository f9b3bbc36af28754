// The rehearsal's own rules, checked without namespaces: Kubernetes' variable expansion, reading the image's
// Dockerfile, and which pod may rightly deliver a message while another leaves and returns.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { NodeId } from "../../src/routing/id.js";
import { REPO_ROOT } from "../helm/helm.js";
import { ownerOf, presenceDuring, rightfulOwners, type Absence, type Pod } from "./ownership.js";
import { expandKubernetes, readImageConfig } from "./pod-spec.js";

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
    expect(image.entrypoint).toEqual(["node", "/app/bin/wendy.js"]);
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
