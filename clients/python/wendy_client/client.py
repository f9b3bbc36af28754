"""A small wrapper over the generated OverlayService stub for services co-located with a Wendy node: plain
types in and out, typed errors, and subscriptions whose handler answers calls."""
import hashlib
import threading
from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence, Tuple, Union

import grpc

from ._proto.wendy.v1 import overlay_pb2, overlay_pb2_grpc, types_pb2
from .errors import FailedPreconditionError, error_from

DEFAULT_ADDRESS = "127.0.0.1:7071"
# The node's WENDY_MAX_PAYLOAD_BYTES default; messages may be this much larger (keys, addresses, ids).
DEFAULT_MAX_PAYLOAD_BYTES = 4 * 1024 * 1024
ENVELOPE_BYTES = 64 * 1024
KEY_BYTES = 16

# A key: a name (hashed by the node like NodeId.fromString) or the raw 16-byte ID.
KeyLike = Union[str, bytes]
Payload = Union[bytes, str]


def key_id(name: str) -> bytes:
    """The 16-byte ID the node gives the key `name`: the first 16 bytes of SHA-256 of its UTF-8 bytes."""
    return hashlib.sha256(name.encode("utf-8")).digest()[:KEY_BYTES]


@dataclass(frozen=True)
class NodeInfo:
    """A node of the overlay."""

    id: str  # 32 hex digits
    local_address: str
    global_address: str
    region: str
    incarnation: int


@dataclass(frozen=True)
class SendResult:
    message_id: str
    # With wait_for_ack: the node that delivered the message, and the hops it took.
    delivered_by: Optional[NodeInfo] = None
    hops: Optional[int] = None


@dataclass(frozen=True)
class CallResult:
    payload: bytes
    answered_by: NodeInfo
    hops: int


@dataclass(frozen=True)
class Delivery:
    """One message delivered to the local node."""

    key: bytes  # the 16-byte key it was sent to
    purpose: int
    payload: bytes
    message_id: str
    origin: NodeInfo
    hops: int
    # Set when the message came from a call: the handler's return value is the answer.
    call_id: Optional[str] = None


@dataclass(frozen=True)
class NodeStatus:
    self_node: NodeInfo
    ready: bool
    peer_count: int
    subscriber_count: int


# What a subscription runs for each delivery. For a call, the value it returns (bytes or text) is the answer.
Handler = Callable[[Delivery], Optional[Payload]]


def _node(node: types_pb2.NodeInfo) -> NodeInfo:
    return NodeInfo(
        id=node.id.hex(),
        local_address=node.local_address,
        global_address=node.global_address,
        region=node.region,
        incarnation=node.incarnation,
    )


def _key(key: KeyLike) -> overlay_pb2.Key:
    if isinstance(key, str):
        return overlay_pb2.Key(name=key)
    if isinstance(key, (bytes, bytearray)) and len(key) == KEY_BYTES:
        return overlay_pb2.Key(id=bytes(key))
    raise ValueError("a key is a name (str) or exactly %d bytes, got %r" % (KEY_BYTES, key))


def _bytes(payload: Payload) -> bytes:
    return payload.encode("utf-8") if isinstance(payload, str) else bytes(payload)


def _timeout(deadline_ms: Optional[int]) -> Optional[float]:
    return None if deadline_ms is None else deadline_ms / 1000.0


class Subscription:
    """Deliveries for some purposes, each passed to a handler on a background thread, in order.

    A delivery is settled once its handler returns: a call is answered with the handler's return value (when
    several subscribers answer one call the first answer wins and the others are dropped). If the handler
    raises, the subscription ends and `wait()` raises that exception; so does a failed stream.
    `close()` ends it from this side.
    """

    def __init__(self, client: "WendyClient", purposes: Sequence[int], handler: Handler) -> None:
        self._client = client
        self._handler = handler
        self._stream = client._stub.Subscribe(
            overlay_pb2.SubscribeRequest(purposes=list(purposes)), metadata=client._metadata()
        )
        self._closed = threading.Event()
        self._error: Optional[BaseException] = None
        self._thread = threading.Thread(target=self._run, name="wendy-subscription", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            for response in self._stream:
                if self._closed.is_set():
                    break
                self._settle(
                    Delivery(
                        key=response.key,
                        purpose=response.purpose,
                        payload=response.payload,
                        message_id=response.message_id,
                        origin=_node(response.origin),
                        hops=response.hops,
                        call_id=response.call_id or None,
                    )
                )
        except grpc.RpcError as error:
            if not self._closed.is_set():
                self._error = error_from(error)
        except BaseException as error:  # the handler's own failure ends the subscription
            self._error = error
            self._stream.cancel()
        finally:
            self._closed.set()

    def _settle(self, delivery: Delivery) -> None:
        """Runs the handler for one delivery and answers it: the one place a delivery is settled."""
        answer = self._handler(delivery)
        if delivery.call_id is not None and answer is not None:
            try:
                self._client.reply(delivery.call_id, answer)
            except FailedPreconditionError:
                pass  # another subscriber answered first, or the caller gave up: not this subscription's fault

    @property
    def active(self) -> bool:
        return not self._closed.is_set()

    def wait(self, timeout: Optional[float] = None) -> bool:
        """Waits until the subscription ends (True) or `timeout` seconds pass (False); raises its error."""
        ended = self._closed.wait(timeout)
        if ended:
            self._thread.join()
            if self._error is not None:
                raise self._error
        return ended

    def close(self) -> None:
        """Ends the subscription; deliveries not yet handled are not handled."""
        if not self._closed.is_set():
            self._closed.set()
            self._stream.cancel()
        if threading.current_thread() is not self._thread:
            self._thread.join()

    def __enter__(self) -> "Subscription":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class WendyClient:
    """A client for one node's client port ("host:port", default 127.0.0.1:7071)."""

    def __init__(
        self,
        address: str = DEFAULT_ADDRESS,
        *,
        token: Optional[str] = None,
        max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
    ) -> None:
        size = max_payload_bytes + ENVELOPE_BYTES
        self.address = address
        self._token = token
        self._channel = grpc.insecure_channel(
            address,
            options=[("grpc.max_send_message_length", size), ("grpc.max_receive_message_length", size)],
        )
        self._stub = overlay_pb2_grpc.OverlayServiceStub(self._channel)
        self._subscriptions: List[Subscription] = []

    def _metadata(self) -> List[Tuple[str, str]]:
        return [("authorization", "Bearer " + self._token)] if self._token else []

    def _unary(self, method: Callable[..., object], request: object, deadline_ms: Optional[int]) -> object:
        try:
            return method(request, metadata=self._metadata(), timeout=_timeout(deadline_ms))
        except grpc.RpcError as error:
            raise error_from(error) from None

    def send(
        self,
        key: KeyLike,
        purpose: int,
        payload: Payload,
        *,
        wait_for_ack: bool = False,
        timeout_ms: int = 0,
        deadline_ms: Optional[int] = None,
    ) -> SendResult:
        """Routes a message to the key's owner. With wait_for_ack, returns once the owner delivered it
        (timeout_ms: how long the node waits for that, 0 = its default)."""
        request = overlay_pb2.SendRequest(
            key=_key(key),
            purpose=purpose,
            payload=_bytes(payload),
            wait_for_ack=wait_for_ack,
            timeout_ms=timeout_ms,
        )
        response = self._unary(self._stub.Send, request, deadline_ms)
        assert isinstance(response, overlay_pb2.SendResponse)
        if not wait_for_ack:
            return SendResult(message_id=response.message_id)
        return SendResult(
            message_id=response.message_id, delivered_by=_node(response.delivered_by), hops=response.hops
        )

    def call(
        self,
        key: KeyLike,
        purpose: int,
        payload: Payload,
        *,
        timeout_ms: int = 0,
        deadline_ms: Optional[int] = None,
    ) -> CallResult:
        """Sends a request to the key's owner and returns a subscriber's answer (timeout_ms: how long the
        owner has, 0 = the node's default of 10 s)."""
        request = overlay_pb2.CallRequest(
            key=_key(key), purpose=purpose, payload=_bytes(payload), timeout_ms=timeout_ms
        )
        response = self._unary(self._stub.Call, request, deadline_ms)
        assert isinstance(response, overlay_pb2.CallResponse)
        return CallResult(payload=response.payload, answered_by=_node(response.answered_by), hops=response.hops)

    def reply(self, call_id: str, payload: Payload, *, deadline_ms: Optional[int] = None) -> None:
        """Answers a call delivered to a subscription (a handler's return value does this for you)."""
        self._unary(self._stub.Reply, overlay_pb2.ReplyRequest(call_id=call_id, payload=_bytes(payload)), deadline_ms)

    def subscribe(self, purposes: Sequence[int], handler: Handler) -> Subscription:
        """Passes every delivery to the local node for `purposes` to `handler`; see Subscription."""
        subscription = Subscription(self, purposes, handler)
        self._subscriptions.append(subscription)
        return subscription

    def lookup(self, key: KeyLike, *, deadline_ms: Optional[int] = None) -> NodeInfo:
        """The live node numerically closest to the key, as this node knows it."""
        response = self._unary(self._stub.Lookup, overlay_pb2.LookupRequest(key=_key(key)), deadline_ms)
        assert isinstance(response, overlay_pb2.LookupResponse)
        return _node(response.owner)

    def replicas(self, key: KeyLike, count: int, *, deadline_ms: Optional[int] = None) -> List[NodeInfo]:
        """The `count` nodes closest to the key, closest first."""
        request = overlay_pb2.ReplicasRequest(key=_key(key), count=count)
        response = self._unary(self._stub.Replicas, request, deadline_ms)
        assert isinstance(response, overlay_pb2.ReplicasResponse)
        return [_node(n) for n in response.nodes]

    def status(self, *, deadline_ms: Optional[int] = None) -> NodeStatus:
        """The node's own view: itself, whether it is ready, its peers and subscribers."""
        response = self._unary(self._stub.Status, overlay_pb2.StatusRequest(), deadline_ms)
        assert isinstance(response, overlay_pb2.StatusResponse)
        return NodeStatus(
            self_node=_node(response.self),
            ready=response.ready,
            peer_count=response.peer_count,
            subscriber_count=response.subscriber_count,
        )

    def close(self) -> None:
        """Ends every subscription and closes the channel."""
        for subscription in self._subscriptions:
            subscription.close()
        self._subscriptions.clear()
        self._channel.close()

    def __enter__(self) -> "WendyClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
