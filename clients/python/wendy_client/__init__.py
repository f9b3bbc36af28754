"""Client for a Wendy node's client port (wendy.v1.OverlayService, wendy.v1.KvService): send, subscribe,
call, lookup, and the replicated key-value store (kv_put, kv_get, kv_delete).

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
    KvValue,
    KvVersion,
    KvWriteResult,
    NodeInfo,
    NodeStatus,
    Payload,
    SendResult,
    Subscription,
    WendyClient,
    key_id,
)
from .errors import (
    AbortedError,
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
    "AbortedError",
    "CallResult",
    "CancelledError",
    "DeadlineExceededError",
    "Delivery",
    "FailedPreconditionError",
    "Handler",
    "InvalidArgumentError",
    "KeyLike",
    "KvValue",
    "KvVersion",
    "KvWriteResult",
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
