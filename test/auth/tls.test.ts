import * as grpc from "@grpc/grpc-js";
import { writeFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  IP_PEER_SERVER_NAME,
  TlsConfigError,
  peerChannelSecurity,
  peerServerCredentials,
  type PeerTlsConfig,
} from "../../src/server/auth/tls.js";
import { CertDir } from "../helpers/certs.js";
import { ECHO_PATH, EchoClient, startServer, unaryCall, type UnaryHandler } from "./grpc-echo.js";

const echo: UnaryHandler = (call, callback) => callback(null, call.request);
const PING = Buffer.from("ping");

let certs: CertDir;
const file = (name: string): string => certs.file(name);
const tlsConfig = (leaf: string, ca: string, mutual: boolean): PeerTlsConfig => certs.tls(leaf, ca, mutual);

/** One echo call to `address` with the channel security a node configured with `config` would use. */
async function echoThrough(address: string, config: PeerTlsConfig): Promise<Buffer> {
  const security = peerChannelSecurity(config)(address);
  const client = new EchoClient(address, security.credentials, security.options);
  try {
    return await unaryCall(client, ECHO_PATH, PING);
  } finally {
    client.close();
  }
}

beforeAll(() => {
  certs = new CertDir();
  certs.ca("overlay-ca");
  certs.ca("foreign-ca");
  certs.leaf("server", "overlay-ca");
  certs.leaf("client", "overlay-ca");
  certs.leaf("intruder", "foreign-ca");
  certs.leaf("ip-only", "overlay-ca", "IP:127.0.0.1");
  certs.leaf("name-only", "overlay-ca", "DNS:localhost");
});

afterAll(() => certs?.remove());

describe("mutual TLS on the peer port", () => {
  let server: grpc.Server | undefined;
  let address = "";

  beforeAll(async () => {
    ({ server, address } = await startServer(peerServerCredentials(tlsConfig("server", "overlay-ca", true)), {
      echo,
    }));
  });
  afterAll(() => server?.forceShutdown());

  it("accepts a client whose certificate the overlay CA signed", async () => {
    const reply = await echoThrough(address, tlsConfig("client", "overlay-ca", true));
    expect(reply.toString()).toBe("ping");
  });

  it("rejects a client whose certificate another CA signed", async () => {
    const intruder = tlsConfig("intruder", "overlay-ca", true);
    await expect(echoThrough(address, intruder)).rejects.toMatchObject({
      code: grpc.status.UNAVAILABLE,
    });
  });

  it("rejects a client that presents no certificate", async () => {
    const anonymous = tlsConfig("client", "overlay-ca", false);
    await expect(echoThrough(address, anonymous)).rejects.toMatchObject({
      code: grpc.status.UNAVAILABLE,
    });
  });

  it("rejects a plaintext client", async () => {
    await expect(echoThrough(address, { enabled: false })).rejects.toMatchObject({
      code: grpc.status.UNAVAILABLE,
    });
  });

  it("lets the client refuse a server whose certificate the overlay CA did not sign", async () => {
    const { server: impostor, address: impostorAddress } = await startServer(
      peerServerCredentials(tlsConfig("intruder", "foreign-ca", false)),
      { echo },
    );
    try {
      const client = tlsConfig("client", "overlay-ca", true);
      await expect(echoThrough(impostorAddress, client)).rejects.toMatchObject({
        code: grpc.status.UNAVAILABLE,
      });
    } finally {
      impostor.forceShutdown();
    }
  });
});

// Node 26 refuses an IP address as TLS server name (RFC 6066); the certificate must still be checked against
// the IP dialled, and against the DNS name when a name is dialled.
describe("the name a peer's certificate is checked against", () => {
  const servers: grpc.Server[] = [];
  afterAll(() => servers.forEach((s) => s.forceShutdown()));

  /** A mutual-TLS echo server showing `leaf`'s certificate; returns its port on 127.0.0.1. */
  async function peerShowing(leaf: string): Promise<string> {
    const started = await startServer(peerServerCredentials(tlsConfig(leaf, "overlay-ca", true)), { echo });
    servers.push(started.server);
    return started.address.split(":")[1]!;
  }
  const client = (): PeerTlsConfig => tlsConfig("client", "overlay-ca", true);

  it("reaches a peer dialled by IP address whose certificate carries that IP", async () => {
    const port = await peerShowing("ip-only");
    expect((await echoThrough(`127.0.0.1:${port}`, client())).toString()).toBe("ping");
  });

  it("reaches a peer dialled by DNS name (localhost) whose certificate carries that name", async () => {
    const port = await peerShowing("name-only");
    expect((await echoThrough(`localhost:${port}`, client())).toString()).toBe("ping");
  });

  it("refuses a peer dialled by IP address whose certificate names only a DNS name", async () => {
    const port = await peerShowing("name-only");
    await expect(echoThrough(`127.0.0.1:${port}`, client())).rejects.toMatchObject({
      code: grpc.status.UNAVAILABLE,
    });
  });

  it("refuses a peer dialled by a DNS name its certificate does not carry", async () => {
    const port = await peerShowing("ip-only");
    await expect(echoThrough(`localhost:${port}`, client())).rejects.toMatchObject({
      code: grpc.status.UNAVAILABLE,
    });
  });

  it("sends a DNS name as TLS server name, and a reserved non-IP name when the peer is an IPv4 or IPv6 address", () => {
    const security = peerChannelSecurity(client());
    const serverName = (address: string): unknown =>
      security(address).options["grpc.ssl_target_name_override"];
    expect(serverName("wendy-0.wendy.default.svc:7070")).toBe("wendy-0.wendy.default.svc");
    expect(serverName("10.1.2.3:7070")).toBe(IP_PEER_SERVER_NAME);
    expect(serverName("[fd00::1]:7070")).toBe(IP_PEER_SERVER_NAME);
  });
});

describe("server-only TLS and plaintext", () => {
  it("without mutual TLS, a client without a certificate is served", async () => {
    const { server, address } = await startServer(
      peerServerCredentials(tlsConfig("server", "overlay-ca", false)),
      {
        echo,
      },
    );
    try {
      const reply = await echoThrough(address, tlsConfig("client", "overlay-ca", false));
      expect(reply.toString()).toBe("ping");
    } finally {
      server.forceShutdown();
    }
  });

  it("with TLS off, plaintext on both sides works", async () => {
    const { server, address } = await startServer(peerServerCredentials({ enabled: false }), { echo });
    try {
      expect((await echoThrough(address, { enabled: false })).toString()).toBe("ping");
    } finally {
      server.forceShutdown();
    }
  });
});

describe("TLS configuration errors", () => {
  it("names the missing file and its role", () => {
    const config = { ...tlsConfig("server", "overlay-ca", true), caFile: file("no-such-ca.crt") };
    expect(() => peerServerCredentials(config)).toThrow(TlsConfigError);
    expect(() => peerServerCredentials(config)).toThrow(/CA file ".*no-such-ca\.crt"/);
    expect(() => peerChannelSecurity(config)).toThrow(/no-such-ca\.crt/);
  });

  it("names the files when the private key does not belong to the certificate", () => {
    const config = { ...tlsConfig("client", "overlay-ca", true), keyFile: file("server.key") };
    expect(() => peerChannelSecurity(config)).toThrow(TlsConfigError);
    expect(() => peerChannelSecurity(config)).toThrow(/client\.crt.*server\.key.*unusable/);
  });

  it("names a file that holds no PEM data", () => {
    writeFileSync(file("garbage.key"), "not a key\n");
    const config = { ...tlsConfig("server", "overlay-ca", true), keyFile: file("garbage.key") };
    expect(() => peerServerCredentials(config)).toThrow(
      /private key file ".*garbage\.key" holds no PEM data/,
    );
  });
});
