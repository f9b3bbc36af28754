"""Client for a Wendy node's client port (wendy.v1.OverlayService): send, subscribe, call, lookup.

    from wendy_client import WendyClient

    with WendyClient("127.0.0.1:7071") as wendy:
        # Live once subscribe() returns; each delivery is acknowledged once the handler returned.
        subscription = wendy.subscribe([16], lambda d: b"pong" if d.call_id else None)
        wendy.send("some-key", 16, "hello", wait_for_ack=True)
        print(wendy.call("some-key", 16, "ping").payload)
"""
from .client import (
    CallResult,
    Delivery,
    Handler,
    KeyLike,
    NodeInfo,
    NodeStatus,
    Payload,
    SendResult,
    Subscription,
    WendyClient,
    key_id,
)
from .errors import (
    CancelledError,
    DeadlineExceededError,
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    ResourceExhaustedError,
    UnauthenticatedError,
    UnavailableError,
    WendyError,
)

__all__ = [
    "CallResult",
    "CancelledError",
    "DeadlineExceededError",
    "Delivery",
    "FailedPreconditionError",
    "Handler",
    "InvalidArgumentError",
    "KeyLike",
    "NodeInfo",
    "NodeStatus",
    "NotFoundError",
    "Payload",
    "ResourceExhaustedError",
    "SendResult",
    "Subscription",
    "UnauthenticatedError",
    "UnavailableError",
    "WendyClient",
    "WendyError",
    "key_id",
]
