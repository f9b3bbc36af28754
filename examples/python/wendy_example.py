#!/usr/bin/env python3
"""A Python client for a Wendy node's client port: send, subscribe (and answer calls), call.

The gRPC code is generated from the repository's proto/ files on first use (grpc_tools.protoc) into a cache
directory named after a hash of those files, so it is never stale and never committed. Needs grpcio and
grpcio-tools (Debian: python3-grpcio python3-grpc-tools).

    wendy_example.py [--address HOST:PORT] [--token TOKEN] send KEY PAYLOAD [--purpose N] [--ack]
    wendy_example.py [--address HOST:PORT] [--token TOKEN] subscribe --purpose N [--count N] [--reply TEXT]
    wendy_example.py [--address HOST:PORT] [--token TOKEN] call KEY PAYLOAD [--purpose N] [--timeout MS]

Keys are names, hashed by the node like NodeId.fromString (first 16 bytes of SHA-256). Output: JSON lines.
"""
import argparse
import hashlib
import json
import os
import queue
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO_ROOT = os.path.normpath(os.path.join(HERE, "..", "..", "proto"))
PROTO_FILES = ["wendy/v1/types.proto", "wendy/v1/overlay.proto"]

try:
    import grpc
    from grpc_tools import protoc
except ImportError:
    sys.exit("wendy_example.py needs grpcio and grpcio-tools: apt-get install python3-grpcio python3-grpc-tools")


def generated_dir():
    """Generates the Python modules for PROTO_FILES once per version of those files; returns the directory."""
    digest = hashlib.sha256()
    for name in PROTO_FILES:
        with open(os.path.join(PROTO_ROOT, name), "rb") as f:
            digest.update(name.encode() + b"\0" + f.read())
    out = os.environ.get("WENDY_PY_GEN_DIR") or os.path.join(
        tempfile.gettempdir(), "wendy-python-" + digest.hexdigest()[:16]
    )
    marker = os.path.join(out, "wendy", "v1", "overlay_pb2_grpc.py")
    if not os.path.exists(marker):
        os.makedirs(out, exist_ok=True)
        args = ["protoc", "-I" + PROTO_ROOT, "--python_out=" + out, "--grpc_python_out=" + out] + [
            os.path.join(PROTO_ROOT, name) for name in PROTO_FILES
        ]
        if protoc.main(args) != 0:
            sys.exit("generating Python code from " + PROTO_ROOT + " failed")
    return out


sys.path.insert(0, generated_dir())
from wendy.v1 import overlay_pb2, overlay_pb2_grpc  # noqa: E402


def node_json(node):
    return {
        "id": node.id.hex(),
        "localAddress": node.local_address,
        "globalAddress": node.global_address,
        "region": node.region,
        "incarnation": node.incarnation,
    }


def print_json(value):
    print(json.dumps(value), flush=True)


def metadata(token):
    return [("authorization", "Bearer " + token)] if token else []


def cmd_send(stub, args):
    response = stub.Send(
        overlay_pb2.SendRequest(
            key=overlay_pb2.Key(name=args.key),
            purpose=args.purpose,
            payload=args.payload.encode(),
            wait_for_ack=args.ack,
        ),
        metadata=metadata(args.token),
    )
    result = {"messageId": response.message_id}
    if args.ack:
        result.update(deliveredBy=node_json(response.delivered_by), hops=response.hops)
    print_json(result)


def cmd_subscribe(stub, args):
    # Receive: a start, then one ack per delivery once handled (a call is acknowledged by its Reply). A
    # delivery left unacknowledged (this process dies) goes to another subscriber or waits for one.
    acks = queue.Queue()

    def requests():
        yield overlay_pb2.ReceiveRequest(start=overlay_pb2.ReceiveStart(purposes=args.purpose))
        while (message_id := acks.get()) is not None:
            yield overlay_pb2.ReceiveRequest(ack=overlay_pb2.ReceiveAck(message_ids=[message_id]))

    stream = stub.Receive(requests(), metadata=metadata(args.token))
    seen = 0
    for response in stream:
        if response.HasField("ready"):
            print("subscribed", file=sys.stderr, flush=True)
            continue
        if seen == args.count and args.count:
            continue  # Half-closed: the node ends the stream once it has our last ack.
        delivery = response.delivery
        print_json(
            {
                "key": delivery.key.hex(),
                "purpose": delivery.purpose,
                "payload": delivery.payload.decode(errors="replace"),
                "messageId": delivery.message_id,
                "origin": node_json(delivery.origin),
                "hops": delivery.hops,
                "callId": delivery.call_id,
            }
        )
        if delivery.call_id and args.reply is not None:
            stub.Reply(
                overlay_pb2.ReplyRequest(call_id=delivery.call_id, payload=args.reply.encode()),
                metadata=metadata(args.token),
            )
        else:
            acks.put(delivery.message_id)
        seen += 1
        if args.count and seen >= args.count:
            acks.put(None)


def cmd_call(stub, args):
    response = stub.Call(
        overlay_pb2.CallRequest(
            key=overlay_pb2.Key(name=args.key),
            purpose=args.purpose,
            payload=args.payload.encode(),
            timeout_ms=args.timeout,
        ),
        metadata=metadata(args.token),
    )
    print_json(
        {
            "payload": response.payload.decode(errors="replace"),
            "answeredBy": node_json(response.answered_by),
            "hops": response.hops,
        }
    )


def main():
    parser = argparse.ArgumentParser(description="Talk to a Wendy node's client port.")
    parser.add_argument("--address", default="127.0.0.1:7071", help="the node's client port (host:port)")
    parser.add_argument("--token", default=os.environ.get("WENDY_CLIENT_TOKEN"), help="bearer token, if required")
    commands = parser.add_subparsers(dest="command", required=True)

    send = commands.add_parser("send", help="route a message to a key's owner")
    send.add_argument("key")
    send.add_argument("payload")
    send.add_argument("--purpose", type=int, default=16)
    send.add_argument("--ack", action="store_true", help="wait for the end-to-end acknowledgement")
    send.set_defaults(run=cmd_send)

    subscribe = commands.add_parser("subscribe", help="print deliveries for some purposes")
    subscribe.add_argument("--purpose", type=int, action="append", required=True)
    subscribe.add_argument("--count", type=int, default=0, help="exit after this many deliveries")
    subscribe.add_argument("--reply", help="answer every call with this text")
    subscribe.set_defaults(run=cmd_subscribe)

    call = commands.add_parser("call", help="send a request to a key's owner and print the answer")
    call.add_argument("key")
    call.add_argument("payload")
    call.add_argument("--purpose", type=int, default=16)
    call.add_argument("--timeout", type=int, default=0, help="milliseconds (0: the node's default)")
    call.set_defaults(run=cmd_call)

    args = parser.parse_args()
    with grpc.insecure_channel(args.address) as channel:
        try:
            args.run(overlay_pb2_grpc.OverlayServiceStub(channel), args)
        except grpc.RpcError as error:
            sys.exit("error: %s: %s" % (error.code().name, error.details()))


if __name__ == "__main__":
    main()
