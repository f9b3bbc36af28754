"""Uses the installed wendy_client against three nodes; prints one JSON object with what it saw.
Usage: scenario.py TOKEN PURPOSE SEND_KEY CALL_KEY ADDRESS_A ADDRESS_B ADDRESS_C"""
import json
import sys

import wendy_client
from wendy_client import FailedPreconditionError, UnauthenticatedError, WendyClient, key_id

token, purpose, send_key, call_key = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
a, b, c = sys.argv[5:8]
out = {"module": wendy_client.__file__}


def owner_seen_at(address):
    with WendyClient(address, token=token) as client:
        return client.lookup(send_key).id


with WendyClient(a, token=token) as at_a, WendyClient(c, token=token) as at_c:
    # Every node names the same owner, for the name and for its 16-byte ID alike.
    owners = {owner_seen_at(address) for address in (a, b, c)}
    out["owners"] = sorted(owners)
    out["ownerById"] = at_c.lookup(key_id(send_key)).id

    sent = at_a.send(send_key, purpose, "hello from python", wait_for_ack=True)
    out["sent"] = {"messageId": sent.message_id, "deliveredBy": sent.delivered_by.id, "hops": sent.hops}

    answer = at_c.call(call_key, purpose, "ping")
    out["call"] = {"payload": answer.payload.decode(), "answeredBy": answer.answered_by.id}

    try:
        at_a.call(call_key, purpose + 1, "nobody listens")
    except FailedPreconditionError as error:
        out["noSubscriber"] = error.code.name
    with WendyClient(b, token="wrong") as wrong:
        try:
            wrong.send(send_key, purpose, "x")
        except UnauthenticatedError as error:
            out["wrongToken"] = error.code.name
    try:
        at_a.send(b"too short", purpose, "x")
    except ValueError as error:
        out["badKey"] = str(error)

print(json.dumps(out), flush=True)
