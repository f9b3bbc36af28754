"""Subscribes through the installed wendy_client at one node; prints each delivery as a JSON line, answers
calls with "pong from NAME", and runs until stdin closes. Usage: subscriber.py ADDRESS TOKEN NAME PURPOSE"""
import json
import sys
from typing import Optional

from wendy_client import Delivery, WendyClient

address, token, name, purpose = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])


def handle(delivery: Delivery) -> Optional[str]:
    print(
        json.dumps(
            {
                "at": name,
                "key": delivery.key.hex(),
                "payload": delivery.payload.decode(),
                "messageId": delivery.message_id,
                "origin": delivery.origin.id,
                "callId": delivery.call_id,
            }
        ),
        flush=True,
    )
    return "pong from " + name if delivery.call_id is not None else None


with WendyClient(address, token=token) as client:
    subscription = client.subscribe([purpose], handle)
    sys.stdin.read()
    if not subscription.active:
        subscription.wait()  # raises the error that ended it
