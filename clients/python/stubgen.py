"""Generates wendy_client._proto (the gRPC stubs) from the .proto files; run by setup.py while building.

The stubs come from the repository's proto/ (two directories up) or, in an sdist, from the proto/ copied into
it; $WENDY_PROTO_ROOT overrides both. grpc_tools.protoc runs at build time only: an installed package needs
grpcio and protobuf, not grpcio-tools. examples/python/wendy_example.py also uses it, to run the client from a
checkout without installing it.
"""
import os
import re
import shutil

HERE = os.path.dirname(os.path.abspath(__file__))
# The services the client calls; the files they import are found by following their imports.
ROOT_PROTO = "wendy/v1/overlay.proto"
ROOT_PROTOS = [ROOT_PROTO, "wendy/v1/kv.proto"]
GENERATED_PACKAGE = "wendy_client._proto"
IMPORT = re.compile(r'^\s*import\s+(?:public\s+|weak\s+)?"([^"]+)"\s*;', re.MULTILINE)


def proto_root():
    """The directory the .proto files are read from."""
    candidates = [
        os.environ.get("WENDY_PROTO_ROOT"),
        os.path.join(HERE, "proto"),
        os.path.join(HERE, "..", "..", "proto"),
    ]
    for candidate in candidates:
        if candidate and os.path.isfile(os.path.join(candidate, ROOT_PROTO)):
            return os.path.normpath(candidate)
    raise RuntimeError("wendy-client: cannot find %s under any of %s" % (ROOT_PROTO, [c for c in candidates if c]))


def proto_files(root):
    """ROOT_PROTOS and every file they import, directly or not, that lives under `root`."""
    found, pending = [], list(ROOT_PROTOS)
    while pending:
        name = pending.pop()
        if name in found:
            continue
        found.append(name)
        with open(os.path.join(root, name), encoding="utf-8") as f:
            pending.extend(i for i in IMPORT.findall(f.read()) if os.path.isfile(os.path.join(root, i)))
    return sorted(found)


def generate(out_dir):
    """Writes the *_pb2 and *_pb2_grpc modules for proto_files() as the package GENERATED_PACKAGE."""
    import grpc_tools
    from grpc_tools import protoc

    root = proto_root()
    files = proto_files(root)
    shutil.rmtree(out_dir, ignore_errors=True)
    os.makedirs(out_dir)
    args = ["grpc_tools.protoc", "-I" + root]
    bundled = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")  # the well-known types
    if os.path.isdir(bundled):
        args.append("-I" + bundled)
    args += ["--python_out=" + out_dir, "--grpc_python_out=" + out_dir]
    args += [os.path.join(root, f) for f in files]
    if protoc.main(args) != 0:
        raise RuntimeError("wendy-client: grpc_tools.protoc failed on %s" % files)
    # protoc writes absolute imports named after the proto packages ("from wendy.v1 import types_pb2");
    # inside this package they must name the generated package instead.
    packages = {os.path.dirname(f).replace("/", ".") for f in files}
    for directory, _, names in os.walk(out_dir):
        with open(os.path.join(directory, "__init__.py"), "a", encoding="utf-8"):
            pass
        for name in names:
            if name.endswith(".py"):
                path = os.path.join(directory, name)
                with open(path, encoding="utf-8") as f:
                    text = f.read()
                for package in packages:
                    text = re.sub(
                        r"^from %s import " % re.escape(package),
                        "from %s.%s import " % (GENERATED_PACKAGE, package),
                        text,
                        flags=re.MULTILINE,
                    )
                with open(path, "w", encoding="utf-8") as f:
                    f.write(text)
