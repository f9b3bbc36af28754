import * as grpc from "@grpc/grpc-js";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  TlsConfigError,
  peerChannelCredentials,
  peerServerCredentials,
  type PeerTlsConfig,
} from "../../src/server/auth/tls.js";
import { ECHO_PATH, EchoClient, startServer, unaryCall, type UnaryHandler } from "./grpc-echo.js";

const echo: UnaryHandler = (call, callback) => callback(null, call.request);
const PING = Buffer.from("ping");

let dir = "";
const file = (name: string): string => join(dir, name);

function openssl(...args: string[]): void {
  execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
}

const EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

function makeCa(name: string): void {
  openssl(
    "req",
    "-x509",
    ...EC_KEY,
    "-subj",
    `/CN=${name}`,
    "-days",
    "1",
    "-keyout",
    `${name}.key`,
    "-out",
    `${name}.crt`,
  );
}

/** A leaf certificate for 127.0.0.1, usable as server and as client, signed by CA `ca`. */
function makeLeaf(name: string, ca: string): void {
  writeFileSync(
    file(`${name}.ext`),
    "basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n",
  );
  openssl("req", "-new", ...EC_KEY, "-subj", `/CN=${name}`, "-keyout", `${name}.key`, "-out", `${name}.csr`);
  openssl(
    "x509",
    "-req",
    "-in",
    `${name}.csr`,
    "-CA",
    `${ca}.crt`,
    "-CAkey",
    `${ca}.key`,
    "-CAcreateserial",
    "-days",
    "1",
    "-extfile",
    `${name}.ext`,
    "-out",
    `${name}.crt`,
  );
}

function tlsConfig(leaf: string, ca: string, mutual: boolean): PeerTlsConfig {
  return {
    enabled: true,
    certFile: file(`${leaf}.crt`),
    keyFile: file(`${leaf}.key`),
    caFile: file(`${ca}.crt`),
    mutual,
  };
}

async function echoThrough(address: string, credentials: grpc.ChannelCredentials): Promise<Buffer> {
  const client = new EchoClient(address, credentials);
  try {
    return await unaryCall(client, ECHO_PATH, PING);
  } finally {
    client.close();
  }
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "wendy-tls-"));
  makeCa("overlay-ca");
  makeCa("foreign-ca");
  makeLeaf("server", "overlay-ca");
  makeLeaf("client", "overlay-ca");
  makeLeaf("intruder", "foreign-ca");
});

afterAll(() => {
  if (dir !== "") rmSync(dir, { recursive: true, force: true });
});

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
