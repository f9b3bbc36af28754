#!/usr/bin/env python3
"""A Python client for a Wendy node's client port: send, subscribe (and answer calls), call, lookup, kv.

A thin front over the wendy_client package (clients/python), run from a checkout without installing it: the
package's sources and its gRPC stubs, generated from the repository's proto/ with grpc_tools.protoc, are put
in a cache directory named after a hash of both (under $WENDY_PY_GEN_DIR, else the temporary directory), so
they are never stale and never committed. Outside a checkout it uses the installed package. Needs grpcio and
grpcio-tools (Debian: python3-grpcio python3-grpc-tools).

    wendy_example.py [--address HOST:PORT] [--token TOKEN] send KEY PAYLOAD [--purpose N] [--ack]
    wendy_example.py [--address HOST:PORT] [--token TOKEN] subscribe --purpose N [--group NAME | --copy-all]
                                                              [--count N] [--reply TEXT]
    wendy_example.py [--address HOST:PORT] [--token TOKEN] call KEY PAYLOAD [--purpose N] [--timeout MS]
    wendy_example.py [--address HOST:PORT] [--token TOKEN] lookup KEY
    wendy_example.py [--address HOST:PORT] [--token TOKEN] kv put KEY VALUE [--if-version C@W | --if-absent]
    wendy_example.py [--address HOST:PORT] [--token TOKEN] kv get KEY
    wendy_example.py [--address HOST:PORT] [--token TOKEN] kv delete KEY [--if-version C@W]

Keys are names, hashed by the node like NodeId.fromString (first 16 bytes of SHA-256). Output: JSON lines.
`subscribe` writes "subscribed at node ID" to stderr once live, then prints each delivery and acknowledges it.
"""
import hashlib
import os
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
CLIENT_SOURCE = os.path.normpath(os.path.join(HERE, "..", "..", "clients", "python"))
PACKAGE = "wendy_client"


def checkout_build():
    """Puts the checkout's wendy_client, stubs included, in a cache directory once per version; returns it."""
    sys.path.insert(0, CLIENT_SOURCE)
    sys.dont_write_bytecode = True  # nothing written into the checkout
    try:
        import stubgen
    finally:
        sys.path.remove(CLIENT_SOURCE)
        sys.dont_write_bytecode = False
    root = stubgen.proto_root()
    sources = os.path.join(CLIENT_SOURCE, PACKAGE)
    inputs = [os.path.join(root, name) for name in stubgen.proto_files(root)]
    inputs += [os.path.join(sources, name) for name in sorted(os.listdir(sources)) if name.endswith(".py")]
    inputs.append(os.path.join(CLIENT_SOURCE, "stubgen.py"))
    digest = hashlib.sha256()
    for path in inputs:
        with open(path, "rb") as f:
            digest.update(os.path.relpath(path, CLIENT_SOURCE).encode() + b"\0" + f.read())
    cache = os.environ.get("WENDY_PY_GEN_DIR") or tempfile.gettempdir()
    out = os.path.join(cache, "wendy-python-" + digest.hexdigest()[:16])
    if not os.path.isdir(os.path.join(out, PACKAGE)):
        os.makedirs(out, exist_ok=True)
        # Built aside and renamed into place, so a concurrent run never sees half a package.
        staging = tempfile.mkdtemp(dir=out)
        try:
            shutil.copytree(sources, os.path.join(staging, PACKAGE), ignore=shutil.ignore_patterns("__pycache__"))
            stubgen.generate(os.path.join(staging, *stubgen.GENERATED_PACKAGE.split(".")))
            try:
                os.rename(os.path.join(staging, PACKAGE), os.path.join(out, PACKAGE))
            except OSError:
                if not os.path.isdir(os.path.join(out, PACKAGE)):
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return out


if os.path.isfile(os.path.join(CLIENT_SOURCE, "stubgen.py")):
    try:
        sys.path.insert(0, checkout_build())
    except ImportError as error:
        sys.exit("wendy_example.py needs grpcio and grpcio-tools (python3-grpcio python3-grpc-tools): %s" % error)

try:
    from wendy_client.cli import main
except ImportError as error:
    sys.exit("wendy_example.py needs the wendy_client package and grpcio: %s" % error)

if __name__ == "__main__":
    main()
