import * as grpc from "@grpc/grpc-js";
import { writeFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  TlsConfigError,
  peerChannelCredentials,
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

async function echoThrough(address: string, credentials: grpc.ChannelCredentials): Promise<Buffer> {
  const client = new EchoClient(address, credentials);
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
    const reply = await echoThrough(address, peerChannelCredentials(tlsConfig("client", "overlay-ca", true)));
    expect(reply.toString()).toBe("ping");
  });

  it("rejects a client whose certificate another CA signed", async () => {
    const intruder = tlsConfig("intruder", "overlay-ca", true);
    await expect(echoThrough(address, peerChannelCredentials(intruder))).rejects.toMatchObject({
      code: grpc.status.UNAVAILABLE,
    });
  });

  it("rejects a client that presents no certificate", async () => {
    const anonymous = tlsConfig("client", "overlay-ca", false);
    await expect(echoThrough(address, peerChannelCredentials(anonymous))).rejects.toMatchObject({
      code: grpc.status.UNAVAILABLE,
    });
  });

  it("rejects a plaintext client", async () => {
    await expect(echoThrough(address, peerChannelCredentials({ enabled: false }))).rejects.toMatchObject({
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
      await expect(echoThrough(impostorAddress, peerChannelCredentials(client))).rejects.toMatchObject({
        code: grpc.status.UNAVAILABLE,
      });
    } finally {
      impostor.forceShutdown();
    }
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
      const reply = await echoThrough(
        address,
        peerChannelCredentials(tlsConfig("client", "overlay-ca", false)),
      );
      expect(reply.toString()).toBe("ping");
    } finally {
      server.forceShutdown();
    }
  });

  it("with TLS off, plaintext on both sides works", async () => {
    const { server, address } = await startServer(peerServerCredentials({ enabled: false }), { echo });
    try {
      expect((await echoThrough(address, peerChannelCredentials({ enabled: false }))).toString()).toBe(
        "ping",
      );
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
    expect(() => peerChannelCredentials(config)).toThrow(/no-such-ca\.crt/);
  });

  it("names a file that holds no PEM data", () => {
    writeFileSync(file("garbage.key"), "not a key\n");
    const config = { ...tlsConfig("server", "overlay-ca", true), keyFile: file("garbage.key") };
    expect(() => peerServerCredentials(config)).toThrow(
      /private key file ".*garbage\.key" holds no PEM data/,
    );
  });
});
