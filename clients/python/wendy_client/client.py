"""A small wrapper over the generated OverlayService stub for services co-located with a Wendy node: plain
types in and out, typed errors, and subscriptions (Receive) that acknowledge each delivery once its handler
returned, or answer it when it is a call."""
import hashlib
import queue
import threading
from dataclasses import dataclass
from typing import Callable, Iterator, List, Optional, Sequence, Tuple, Union

import grpc

from ._proto.wendy.v1 import kv_pb2, kv_pb2_grpc, overlay_pb2, overlay_pb2_grpc, types_pb2
from .errors import DeadlineExceededError, FailedPreconditionError, NotFoundError, WendyError, error_from

DEFAULT_ADDRESS = "127.0.0.1:7071"
# The node's WENDY_MAX_PAYLOAD_BYTES default; messages may be this much larger (keys, addresses, ids).
DEFAULT_MAX_PAYLOAD_BYTES = 4 * 1024 * 1024
ENVELOPE_BYTES = 64 * 1024
KEY_BYTES = 16
# How long subscribe() waits for the node to say the subscription is live, by default (seconds).
DEFAULT_READY_TIMEOUT_S = 10.0
# After close(), how long the node has to take the acknowledgements already queued and end the stream (it
# ends it as soon as it read the half-close) before the stream is cancelled (seconds).
CLOSE_GRACE_S = 5.0

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
class KvVersion:
    """A stored value's version: ordered by counter, then by writer (the coordinating node's ID)."""

    counter: int
    writer: str  # 32 hex digits

    def __str__(self) -> str:
        return "%d@%s" % (self.counter, self.writer)


@dataclass(frozen=True)
class KvWriteResult:
    version: KvVersion
    acknowledgements: int  # replicas that stored it before the answer (at least W)
    coordinator: NodeInfo  # the key's owner


@dataclass(frozen=True)
class KvValue:
    value: bytes
    version: KvVersion
    answers: int  # replicas the value was chosen from (at least R)
    coordinator: NodeInfo


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
    # 1 the first time this node hands the message to a subscriber of this group; 2 and more when it hands it
    # out again after a subscriber went away without acknowledging it (message_id stays the same).
    attempt: int = 1


@dataclass(frozen=True)
class NodeStatus:
    self_node: NodeInfo
    ready: bool
    peer_count: int
    subscriber_count: int


# What a subscription runs for each delivery; its return acknowledges the delivery. For a call, the value it
# returns (bytes or text) is the answer (None: no answer from this subscriber).
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


def _version(version: kv_pb2.Version) -> KvVersion:
    return KvVersion(counter=version.counter, writer=version.writer.hex())


def _precondition(if_version: Optional[KvVersion], if_absent: bool) -> Optional[kv_pb2.Precondition]:
    if if_version is not None:
        return kv_pb2.Precondition(
            if_version=kv_pb2.Version(counter=if_version.counter, writer=bytes.fromhex(if_version.writer))
        )
    if if_absent:
        return kv_pb2.Precondition(if_absent=True)
    return None


def _write(response: Union[kv_pb2.PutResponse, kv_pb2.DeleteResponse]) -> KvWriteResult:
    return KvWriteResult(
        version=_version(response.version),
        acknowledgements=response.acknowledgements,
        coordinator=_node(response.coordinator),
    )


def _bytes(payload: Payload) -> bytes:
    return payload.encode("utf-8") if isinstance(payload, str) else bytes(payload)


def _timeout(deadline_ms: Optional[int]) -> Optional[float]:
    return None if deadline_ms is None else deadline_ms / 1000.0


class Subscription:
    """Deliveries for some purposes (a Receive stream), each passed to a handler on a background thread, in
    order, and acknowledged once the handler returned.

    - A plain message is acknowledged when its handler returns (whatever it returns): a sender waiting with
      wait_for_ack learns then that it was handled.
    - A call is answered with the handler's return value (bytes or text), and the Reply acknowledges it.
      When several groups took one call, the first answer wins; a later one is refused by the node and this
      subscription acknowledges the delivery instead. A handler that returns None for a call declines to
      answer: the delivery is acknowledged (so it is not handed out again), and the caller gets another
      group's answer or, failing that, DEADLINE_EXCEEDED at its timeout.
    - If the handler raises, that delivery is not acknowledged (the node hands it again to another member of
      the group, or to the next one to attach, with `attempt` counting up), the subscription ends, and
      `wait()` raises that exception; a failed stream ends it the same way, with a WendyError.
    - With copy_all the subscriber receives a copy of every delivery, outside any group and acknowledgement.

    `close()` ends it from this side: acknowledgements already made reach the node first, and deliveries not
    yet handled go to another member. It does not resume after the node restarts.
    """

    def __init__(
        self,
        client: "WendyClient",
        purposes: Sequence[int],
        handler: Handler,
        *,
        group: str = "",
        copy_all: bool = False,
        max_unacknowledged: int = 0,
    ) -> None:
        self._client = client
        self._handler = handler
        self._copy_all = copy_all
        # What the request stream sends, in order: start, then acks; None half-closes it.
        self._requests: "queue.Queue[Optional[overlay_pb2.ReceiveRequest]]" = queue.Queue()
        start = overlay_pb2.ReceiveStart(
            purposes=list(purposes), group=group, copy_all=copy_all, max_unacknowledged=max_unacknowledged
        )
        self._requests.put(overlay_pb2.ReceiveRequest(start=start))
        self._stream = client._stub.Receive(self._outgoing(), metadata=client._metadata())
        self._node: Optional[NodeInfo] = None
        self._settled_start = threading.Event()  # set once live, or once ended before that
        self._closing = threading.Event()
        self._closed = threading.Event()
        # Held while a delivery is being settled: the half-close waits for its acknowledgement to be queued.
        self._settling = threading.Lock()
        self._half_closed = False
        self._cancel_timer: Optional[threading.Timer] = None
        self._error: Optional[BaseException] = None
        self._thread = threading.Thread(target=self._run, name="wendy-subscription", daemon=True)
        self._thread.start()

    def _outgoing(self) -> Iterator[overlay_pb2.ReceiveRequest]:
        while True:
            request = self._requests.get()
            if request is None:
                return
            yield request

    def _run(self) -> None:
        try:
            for response in self._stream:
                kind = response.WhichOneof("kind")
                if kind == "ready":
                    self._node = _node(response.ready.node)
                    self._settled_start.set()
                elif kind != "delivery":
                    raise WendyError(grpc.StatusCode.INTERNAL, "the node sent a Receive response of unknown kind")
                else:
                    self._take(response.delivery)
        except grpc.RpcError as error:
            if not self._closing.is_set():
                self._error = error_from(error)
        except BaseException as error:
            self._error = error
        finally:
            with self._settling:
                self._closing.set()
                self._half_close()
                if self._cancel_timer is not None:
                    self._cancel_timer.cancel()
            self._stream.cancel()  # nothing left to cancel when the node ended it
            self._closed.set()
            self._settled_start.set()

    def _take(self, d: overlay_pb2.Delivery) -> None:
        """Settles one delivery unless the subscription is closing (it is then left to other members)."""
        with self._settling:
            if not self._closing.is_set():
                delivery = Delivery(
                    key=d.key,
                    purpose=d.purpose,
                    payload=d.payload,
                    message_id=d.message_id,
                    origin=_node(d.origin),
                    hops=d.hops,
                    call_id=d.call_id or None,
                    attempt=d.attempt,
                )
                try:
                    self._settle(delivery)
                except BaseException as error:  # the handler's failure ends the subscription, unacknowledged
                    self._error = error
                    self._closing.set()
            if self._closing.is_set():  # the handler failed, or closed the subscription itself
                self._half_close()

    def _settle(self, delivery: Delivery) -> None:
        """Runs the handler for one delivery, then answers or acknowledges it: the one place a delivery is
        settled."""
        answer = self._handler(delivery)
        if delivery.call_id is not None and answer is not None:
            try:
                self._client.reply(delivery.call_id, answer)
                return  # the Reply acknowledged it
            except FailedPreconditionError:
                pass  # answered elsewhere first, or the caller gave up: not this subscription's fault
        if not self._copy_all:  # a copy needs no acknowledgement
            ack = overlay_pb2.ReceiveAck(message_ids=[delivery.message_id])
            self._requests.put(overlay_pb2.ReceiveRequest(ack=ack))

    def _half_close(self) -> None:
        """Ends the request stream after the acknowledgements queued so far (the node then ends the stream),
        and cancels the stream if the node has not within CLOSE_GRACE_S. Called with _settling held."""
        if self._half_closed:
            return
        self._half_closed = True
        self._requests.put(None)
        self._cancel_timer = threading.Timer(CLOSE_GRACE_S, self._stream.cancel)
        self._cancel_timer.daemon = True
        self._cancel_timer.start()

    @property
    def active(self) -> bool:
        return not self._closed.is_set()

    @property
    def node(self) -> Optional[NodeInfo]:
        """The node serving the subscription, once it is live."""
        return self._node

    def wait_ready(self, timeout: Optional[float] = DEFAULT_READY_TIMEOUT_S) -> NodeInfo:
        """Waits until the node says the subscription is live (deliveries from then on reach it) and returns
        the node. Raises the error that ended it first, or DeadlineExceededError after `timeout` seconds."""
        if not self._settled_start.wait(timeout):
            raise DeadlineExceededError(
                grpc.StatusCode.DEADLINE_EXCEEDED, "the subscription was not live within %ss" % timeout
            )
        if self._node is not None:
            return self._node
        self._thread.join()
        if self._error is not None:
            raise self._error
        raise WendyError(grpc.StatusCode.CANCELLED, "the subscription ended before it was live")

    def wait(self, timeout: Optional[float] = None) -> bool:
        """Waits until the subscription ends (True) or `timeout` seconds pass (False); raises its error."""
        ended = self._closed.wait(timeout)
        if ended:
            self._thread.join()
            if self._error is not None:
                raise self._error
        return ended

    def close(self) -> None:
        """Ends the subscription. A delivery whose handler is running is settled first (close waits for it);
        the ones not yet handled are not handled, nor acknowledged: the node gives them to other members."""
        if threading.current_thread() is self._thread:
            self._closing.set()  # a handler closing its own subscription: half-closed once it returned
            return
        with self._settling:
            self._closing.set()
            self._half_close()
        self._thread.join()

    def __enter__(self) -> "Subscription":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class WendyClient:
    """A client for one node's client port ("host:port", default 127.0.0.1:7071, or "unix:///path" of the
    node's Unix socket, WENDY_CLIENT_SOCKET)."""

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
        self._kv = kv_pb2_grpc.KvServiceStub(self._channel)
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

    def subscribe(
        self,
        purposes: Sequence[int],
        handler: Handler,
        *,
        group: str = "",
        copy_all: bool = False,
        max_unacknowledged: int = 0,
        ready_timeout: Optional[float] = DEFAULT_READY_TIMEOUT_S,
    ) -> Subscription:
        """Passes the deliveries to the local node for `purposes` to `handler`, acknowledging each once it
        returned; see Subscription. Returns once the subscription is live (raising its error, or
        DeadlineExceededError after `ready_timeout` seconds, if not).

        group: the subscriber group (default ""); each delivery goes to one member of each group at the
        node, so replicas of a service share the work. copy_all: receive a copy of every delivery instead,
        outside any group (group must be empty). max_unacknowledged: deliveries this subscriber holds
        unhandled at most (0: the node's default, 64; at most 1024)."""
        subscription = Subscription(
            self, purposes, handler, group=group, copy_all=copy_all, max_unacknowledged=max_unacknowledged
        )
        try:
            subscription.wait_ready(ready_timeout)
        except BaseException:
            subscription.close()
            raise
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

    def kv_put(
        self,
        key: KeyLike,
        value: Payload,
        *,
        if_version: Optional[KvVersion] = None,
        if_absent: bool = False,
        timeout_ms: int = 0,
        deadline_ms: Optional[int] = None,
    ) -> KvWriteResult:
        """Stores `value` under the key in the replicated key-value store; returns once W replicas stored
        it. if_version: only if the key's version is this one (compare and set); if_absent: only if it holds
        no value. Either raises AbortedError when it does not hold."""
        request = kv_pb2.PutRequest(
            key=_key(key), value=_bytes(value), precondition=_precondition(if_version, if_absent), timeout_ms=timeout_ms
        )
        response = self._unary(self._kv.Put, request, deadline_ms)
        assert isinstance(response, kv_pb2.PutResponse)
        return _write(response)

    def kv_get(self, key: KeyLike, *, timeout_ms: int = 0, deadline_ms: Optional[int] = None) -> Optional[KvValue]:
        """The value under the key and its version, or None when it holds none (never written, or deleted)."""
        request = kv_pb2.GetRequest(key=_key(key), timeout_ms=timeout_ms)
        try:
            response = self._unary(self._kv.Get, request, deadline_ms)
        except NotFoundError:
            return None
        assert isinstance(response, kv_pb2.GetResponse)
        return KvValue(
            value=response.value,
            version=_version(response.version),
            answers=response.answers,
            coordinator=_node(response.coordinator),
        )

    def kv_delete(
        self,
        key: KeyLike,
        *,
        if_version: Optional[KvVersion] = None,
        timeout_ms: int = 0,
        deadline_ms: Optional[int] = None,
    ) -> KvWriteResult:
        """Deletes the value under the key (a replicated tombstone); deleting an absent key succeeds."""
        request = kv_pb2.DeleteRequest(
            key=_key(key), precondition=_precondition(if_version, False), timeout_ms=timeout_ms
        )
        response = self._unary(self._kv.Delete, request, deadline_ms)
        assert isinstance(response, kv_pb2.DeleteResponse)
        return _write(response)

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
