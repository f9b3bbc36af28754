"""Subscribes through the installed wendy_client at one node and prints JSON lines: {"event": "ready"} once
live, {"event": "delivery", ...} for each delivery as its handler starts, and {"event": "ended"} if the
subscription ends by itself. Runs until stdin closes.

Usage: subscriber.py ADDRESS TOKEN NAME PURPOSE GROUP MODE, where MODE is what the handler does:
  answer  returns at once, answering calls with "pong from NAME";
  block   returns only after a line "release" arrives on stdin (one line per delivery);
  raise   raises, so the delivery is not acknowledged and the subscription ends;
  decline returns None, so a call is acknowledged without an answer.
Exits 0 when stdin closes with the subscription still active, 3 when the subscription had ended."""
import json
import sys
import threading
from typing import Optional

from wendy_client import Delivery, WendyClient

address, token, name, purpose, group, mode = sys.argv[1:7]
releases = threading.Semaphore(0)
stdin_closed = threading.Event()


emit_lock = threading.Lock()


def emit(event: str, **fields: object) -> None:
    # The handler's thread and the main thread both emit (a redelivery can arrive with "ready"): one whole
    # line at a time, or the two interleave into one unreadable line.
    line = json.dumps(dict(at=name, event=event, **fields)) + "\n"
    with emit_lock:
        sys.stdout.write(line)
        sys.stdout.flush()


def read_stdin() -> None:
    for line in sys.stdin:
        if line.strip() == "release":
            releases.release()
    stdin_closed.set()


def handle(delivery: Delivery) -> Optional[str]:
    emit(
        "delivery",
        key=delivery.key.hex(),
        payload=delivery.payload.decode(),
        messageId=delivery.message_id,
        origin=delivery.origin.id,
        callId=delivery.call_id,
        attempt=delivery.attempt,
    )
    if mode == "raise":
        raise RuntimeError("handler failed on purpose")
    if mode == "block":
        releases.acquire()
    if mode == "decline":
        return None
    return "pong from " + name if delivery.call_id is not None else None


with WendyClient(address, token=token) as client:
    subscription = client.subscribe([int(purpose)], handle, group=group)
    emit("ready", node=subscription.wait_ready().id)
    threading.Thread(target=read_stdin, daemon=True).start()
    while not stdin_closed.is_set():
        try:
            if subscription.wait(0.05):
                emit("ended", error=None)
                sys.exit(3)
        except RuntimeError as error:  # the handler's own exception, raised again by wait()
            emit("ended", error=str(error))
            sys.exit(3)
    if not subscription.active:
        subscription.wait()  # raises the error that ended it
