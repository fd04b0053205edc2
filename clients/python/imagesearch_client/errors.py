"""What a failed call says beyond its status code: the google.rpc.ErrorInfo every
imagesearch error carries (a stable `reason`, e.g. "COLLECTION_NOT_FOUND", and the values
a program needs, e.g. {"collection": "corel"}) and, for bad requests, the fields at fault.

Calls raise grpc.RpcError; branch on `error_reason(err)`, not on the message, which is
for people and may change between releases. The reasons are listed in
protos/imagesearch/v1/error_reason.proto.
"""

from __future__ import annotations

import grpc
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

DOMAIN = "imagesearch.v1"


def rich_status(err: grpc.RpcError) -> status_pb2.Status | None:
    """The google.rpc.Status the server put in the error's trailers, or None (an error
    raised by gRPC itself, e.g. a deadline or an unreachable server, has none)."""
    if not hasattr(err, "trailing_metadata"):  # sync errors are grpc.Call, asyncio ones AioRpcError
        return None
    try:
        return rpc_status.from_call(err)
    except ValueError:  # trailers that contradict the call's code or message
        return None


def status_error_info(status: status_pb2.Status | None) -> error_details_pb2.ErrorInfo | None:
    """The ErrorInfo among a status's details, or None."""
    for detail in status.details if status is not None else ():
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return info
    return None


def status_field_violations(status: status_pb2.Status | None) -> dict[str, str]:
    """Field path -> description, from a status's BadRequest detail (empty if none)."""
    for detail in status.details if status is not None else ():
        bad_request = error_details_pb2.BadRequest()
        if detail.Unpack(bad_request):
            return {v.field: v.description for v in bad_request.field_violations}
    return {}


def error_info(err: grpc.RpcError) -> error_details_pb2.ErrorInfo | None:
    """The error's google.rpc.ErrorInfo, or None."""
    return status_error_info(rich_status(err))


def error_reason(err: grpc.RpcError) -> str | None:
    """The error's stable reason, e.g. "ITEM_NOT_FOUND"; None when the server sent none."""
    info = error_info(err)
    return info.reason if info is not None else None


def error_metadata(err: grpc.RpcError) -> dict[str, str]:
    """The ErrorInfo's metadata, e.g. {"collection": "corel"}; empty when there is none."""
    info = error_info(err)
    return dict(info.metadata) if info is not None else {}


def field_violations(err: grpc.RpcError) -> dict[str, str]:
    """For INVALID_ARGUMENT errors: field path -> what is wrong with it."""
    return status_field_violations(rich_status(err))
