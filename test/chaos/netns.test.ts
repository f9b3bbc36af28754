// The namespace builder: nodes reach each other on the private subnet, nothing outside it, and cleanup
// removes everything it made.
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import {
  OutsideSubnetError,
  TestNetwork,
  assertInsideSubnet,
  isInsideSubnet,
  listOwnNamespaces,
} from "./lib/netns.js";
import { startEchoServer, tcpRoundTrips } from "./lib/probe.js";

const networks: TestNetwork[] = [];
afterAll(async () => {
  for (const n of networks) await n.destroy();
});

describe("test networks of namespaces", () => {
  it("connects the nodes to each other over the private subnet and only there", async () => {
    const net = await TestNetwork.create(3);
    networks.push(net);
    expect(net.nodes.map((n) => n.ns)).toEqual([1, 2, 3].map((i) => `wendy-t${net.id}-${i}`));
    const server = await startEchoServer(net, 2, 7001);
    try {
      const rtts = await tcpRoundTrips(net, 0, `${net.node(2).address}:7001`, 3);
      expect(rtts).not.toBe("unreachable");
      expect(rtts).toHaveLength(3);
      // There is no route out of the test subnet: a connection to an outside address fails at once.
      const out = await net.exec(net.node(0).ns, ["ip", "route", "get", "192.0.2.1"]).catch((e: Error) => e);
      expect(out).toBeInstanceOf(Error);
    } finally {
      server.kill("SIGKILL");
    }
  });

  it("guards every address: only hosts of the test subnet pass", async () => {
    expect(isInsideSubnet("10.213.0.7:4000")).toBe(true);
    expect(isInsideSubnet("10.213.0.254")).toBe(true);
    for (const outside of [
      "127.0.0.1:80",
      "10.213.1.7",
      "10.2130.0.1",
      "8.8.8.8:53",
      "10.213.0.0",
      "10.213.0.255",
    ])
      expect(isInsideSubnet(outside), outside).toBe(false);
    expect(() => assertInsideSubnet("10.213.0.3", "192.168.1.1:22")).toThrow(OutsideSubnetError);
    const net = await TestNetwork.create(1);
    networks.push(net);
    expect(() => net.indexOf("10.213.0.9:1")).toThrow(OutsideSubnetError);
    await expect(net.exec("some-other-ns", ["true"])).rejects.toThrow(OutsideSubnetError);
  });

  it("fails with a clear message when not run as root (never skips silently)", () => {
    const module = fileURLToPath(new URL("./lib/netns.ts", import.meta.url));
    const program = `const m = await import(${JSON.stringify(module)});
      try { await m.TestNetwork.create(1); console.log("created"); } catch (e) { console.log(e.name + ": " + e.message); }`;
    // The same check as a chaos test would run, in a process of the unprivileged user "nobody".
    const child = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", program], {
      uid: 65534,
      gid: 65534,
      encoding: "utf8",
      env: { ...process.env, HOME: "/tmp" },
      timeout: 30_000,
    });
    expect(child.stdout.trim()).toBe(
      "NetnsUnavailableError: chaos tests need root (network namespaces and nftables); run them through .ci/run as root",
    );
  });

  it("removes every namespace it created on destroy", async () => {
    const net = await TestNetwork.create(2);
    const names = [net.switchNs, ...net.nodes.map((n) => n.ns)];
    expect(await listOwnNamespaces()).toEqual(expect.arrayContaining(names));
    await net.destroy();
    const left = await listOwnNamespaces();
    for (const n of names) expect(left).not.toContain(n);
  });
});
