"""`wendy-client`: send, subscribe (answering calls), call and lookup from the command line; JSON lines out.

    wendy-client [--address HOST:PORT] [--token TOKEN] send KEY PAYLOAD [--purpose N] [--ack]
    wendy-client [--address HOST:PORT] [--token TOKEN] subscribe --purpose N [--group NAME | --copy-all]
                                                           [--count N] [--reply TEXT]
    wendy-client [--address HOST:PORT] [--token TOKEN] call KEY PAYLOAD [--purpose N] [--timeout MS]
    wendy-client [--address HOST:PORT] [--token TOKEN] lookup KEY
    wendy-client [--address HOST:PORT] [--token TOKEN] kv put KEY VALUE [--if-version COUNTER@WRITER | --if-absent]
    wendy-client [--address HOST:PORT] [--token TOKEN] kv get KEY
    wendy-client [--address HOST:PORT] [--token TOKEN] kv delete KEY [--if-version COUNTER@WRITER]

Keys are names, hashed by the node like NodeId.fromString. Errors exit 1 with the gRPC status name; so does
`kv get` of a key that holds no value.
`subscribe` says "subscribed at node ID" on stderr once live, then prints each delivery and acknowledges it
(a call: answers it with --reply, else acknowledges it unanswered).
"""
import argparse
import json
import os
import sys
import threading
from typing import Any, Dict, List, Optional

from .client import DEFAULT_ADDRESS, Delivery, KvVersion, KvWriteResult, NodeInfo, WendyClient
from .errors import WendyError

# Polling period of the main thread while a subscription runs (it must stay responsive to Ctrl-C).
WAIT_SLICE_S = 0.05


def node_json(node: NodeInfo) -> Dict[str, Any]:
    return {
        "id": node.id,
        "localAddress": node.local_address,
        "globalAddress": node.global_address,
        "region": node.region,
        "incarnation": node.incarnation,
    }


def print_json(value: Dict[str, Any]) -> None:
    print(json.dumps(value), flush=True)


def cmd_send(client: WendyClient, args: argparse.Namespace) -> None:
    result = client.send(args.key, args.purpose, args.payload, wait_for_ack=args.ack)
    out: Dict[str, Any] = {"messageId": result.message_id}
    if result.delivered_by is not None:
        out.update(deliveredBy=node_json(result.delivered_by), hops=result.hops)
    print_json(out)


def cmd_subscribe(client: WendyClient, args: argparse.Namespace) -> None:
    seen = 0
    enough = threading.Event()

    def handle(delivery: Delivery) -> Optional[str]:
        nonlocal seen
        print_json(
            {
                "key": delivery.key.hex(),
                "purpose": delivery.purpose,
                "payload": delivery.payload.decode(errors="replace"),
                "messageId": delivery.message_id,
                "origin": node_json(delivery.origin),
                "hops": delivery.hops,
                "callId": delivery.call_id or "",
                "attempt": delivery.attempt,
            }
        )
        seen += 1
        if args.count and seen >= args.count:
            enough.set()
        return args.reply  # printed: handled as far as this command goes, so the subscription acknowledges it

    subscription = client.subscribe(args.purpose, handle, group=args.group, copy_all=args.copy_all)
    # subscribe() returned: the subscription is live.
    print("subscribed at node %s" % subscription.wait_ready().id, file=sys.stderr, flush=True)
    try:
        while not subscription.wait(WAIT_SLICE_S):
            if enough.is_set():
                subscription.close()  # waits for the last delivery to be acknowledged or answered
    finally:
        subscription.close()


def cmd_call(client: WendyClient, args: argparse.Namespace) -> None:
    result = client.call(args.key, args.purpose, args.payload, timeout_ms=args.timeout)
    print_json(
        {
            "payload": result.payload.decode(errors="replace"),
            "answeredBy": node_json(result.answered_by),
            "hops": result.hops,
        }
    )


def cmd_lookup(client: WendyClient, args: argparse.Namespace) -> None:
    print_json({"owner": node_json(client.lookup(args.key))})


def version_arg(text: str) -> KvVersion:
    counter, _, writer = text.partition("@")
    if not counter.isdigit() or int(counter) < 1 or len(writer) != 32:
        raise argparse.ArgumentTypeError("expected COUNTER@WRITER: a counter from 1 and 32 hex digits")
    try:
        bytes.fromhex(writer)
    except ValueError:
        raise argparse.ArgumentTypeError("the writer must be 32 hex digits") from None
    return KvVersion(counter=int(counter), writer=writer.lower())


def write_json(result: KvWriteResult) -> Dict[str, Any]:
    return {
        "version": str(result.version),
        "acknowledgements": result.acknowledgements,
        "coordinator": node_json(result.coordinator),
    }


def cmd_kv_put(client: WendyClient, args: argparse.Namespace) -> None:
    print_json(write_json(client.kv_put(args.key, args.value, if_version=args.if_version, if_absent=args.if_absent)))


def cmd_kv_get(client: WendyClient, args: argparse.Namespace) -> None:
    found = client.kv_get(args.key)
    if found is None:
        sys.exit("error: no value under key %s" % args.key)
    print_json(
        {
            "value": found.value.decode(errors="replace"),
            "version": str(found.version),
            "answers": found.answers,
            "coordinator": node_json(found.coordinator),
        }
    )


def cmd_kv_delete(client: WendyClient, args: argparse.Namespace) -> None:
    print_json(write_json(client.kv_delete(args.key, if_version=args.if_version)))


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Talk to a Wendy node's client port.")
    p.add_argument("--address", default=DEFAULT_ADDRESS, help="the node's client port (host:port)")
    p.add_argument("--token", default=os.environ.get("WENDY_CLIENT_TOKEN"), help="bearer token, if required")
    commands = p.add_subparsers(dest="command", required=True)

    send = commands.add_parser("send", help="route a message to a key's owner")
    send.add_argument("key")
    send.add_argument("payload")
    send.add_argument("--purpose", type=int, default=16)
    send.add_argument("--ack", action="store_true", help="wait for the end-to-end acknowledgement")
    send.set_defaults(run=cmd_send)

    subscribe = commands.add_parser(
        "subscribe", help="print deliveries for some purposes, acknowledging each once printed"
    )
    subscribe.add_argument("--purpose", type=int, action="append", required=True)
    subscribe.add_argument("--group", default="", help="subscriber group: each message goes to one member of each")
    subscribe.add_argument(
        "--copy-all",
        action="store_true",
        help="receive a copy of every message instead, outside any group, without acknowledging",
    )
    subscribe.add_argument("--count", type=int, default=0, help="exit after this many deliveries")
    subscribe.add_argument("--reply", help="answer every call with this text")
    subscribe.set_defaults(run=cmd_subscribe)

    call = commands.add_parser("call", help="send a request to a key's owner and print the answer")
    call.add_argument("key")
    call.add_argument("payload")
    call.add_argument("--purpose", type=int, default=16)
    call.add_argument("--timeout", type=int, default=0, help="milliseconds (0: the node's default)")
    call.set_defaults(run=cmd_call)

    lookup = commands.add_parser("lookup", help="print the node that owns a key")
    lookup.add_argument("key")
    lookup.set_defaults(run=cmd_lookup)

    kv = commands.add_parser("kv", help="the replicated key-value store").add_subparsers(dest="kv", required=True)
    kv_put = kv.add_parser("put", help="store a value under a key; prints its version")
    kv_put.add_argument("key")
    kv_put.add_argument("value")
    only = kv_put.add_mutually_exclusive_group()
    only.add_argument("--if-version", type=version_arg, help="only if the key's version is COUNTER@WRITER")
    only.add_argument("--if-absent", action="store_true", help="only if the key holds no value")
    kv_put.set_defaults(run=cmd_kv_put)
    kv_get = kv.add_parser("get", help="print the value under a key and its version")
    kv_get.add_argument("key")
    kv_get.set_defaults(run=cmd_kv_get)
    kv_delete = kv.add_parser("delete", help="delete the value under a key")
    kv_delete.add_argument("key")
    kv_delete.add_argument("--if-version", type=version_arg, help="only if the key's version is COUNTER@WRITER")
    kv_delete.set_defaults(run=cmd_kv_delete)
    return p


def main(argv: Optional[List[str]] = None) -> None:
    args = parser().parse_args(argv)
    with WendyClient(args.address, token=args.token) as client:
        try:
            args.run(client, args)
        except WendyError as error:
            sys.exit("error: %s: %s" % (error.code.name, error.details))


if __name__ == "__main__":
    main()
