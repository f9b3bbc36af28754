"""Typed errors: every failed call raises a WendyError subclass named after its gRPC status code."""
from typing import Dict, Type

import grpc


class WendyError(Exception):
    """A call to the node failed; `code` is its gRPC status code and `details` the node's message."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__("%s: %s" % (code.name, details))
        self.code = code
        self.details = details


class InvalidArgumentError(WendyError):
    """The request was malformed: a bad key, a reserved purpose, an oversized payload."""


class FailedPreconditionError(WendyError):
    """The request cannot be served now: e.g. no subscriber at the key's owner listens to a call's purpose."""


class ResourceExhaustedError(WendyError):
    """The node is at a bound (messages in flight, subscribers): retry later."""


class DeadlineExceededError(WendyError):
    """The deadline passed before the node answered (or before a call's owner replied)."""


class UnauthenticatedError(WendyError):
    """The node requires a bearer token and this one is missing or wrong."""


class UnavailableError(WendyError):
    """The node cannot be reached, or it is not (yet) part of an overlay."""


class NotFoundError(WendyError):
    """The thing named does not exist, e.g. a Reply to an unknown or already answered call."""


class AbortedError(WendyError):
    """A key-value write's precondition did not hold: the key's version changed (read it again, retry)."""


class CancelledError(WendyError):
    """The call was cancelled on this side."""


_BY_CODE: Dict[grpc.StatusCode, Type[WendyError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgumentError,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPreconditionError,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhaustedError,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceededError,
    grpc.StatusCode.UNAUTHENTICATED: UnauthenticatedError,
    grpc.StatusCode.UNAVAILABLE: UnavailableError,
    grpc.StatusCode.NOT_FOUND: NotFoundError,
    grpc.StatusCode.CANCELLED: CancelledError,
    grpc.StatusCode.ABORTED: AbortedError,
}


def error_from(error: grpc.RpcError) -> WendyError:
    """The typed error for a failed gRPC call."""
    code = error.code() if isinstance(error, grpc.Call) else grpc.StatusCode.UNKNOWN
    details = (error.details() if isinstance(error, grpc.Call) else None) or str(error)
    return _BY_CODE.get(code, WendyError)(code, details)
