"""gRPC statuses as HTTP error responses (AIP-193's JSON form of google.rpc.Status):

    {"error": {"code": 404, "message": "...", "status": "NOT_FOUND",
               "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", ...}]}}

`code` is the HTTP status, `status` the gRPC code's name, `details` the status details
(ErrorInfo, BadRequest) in their proto3 JSON form with "@type".
"""

from __future__ import annotations

import base64
import json

import grpc
from google.protobuf import json_format
from google.rpc import error_details_pb2, status_pb2  # noqa: F401 - registers ErrorInfo & co. for "@type"

from imagesearch.api.errors import ApiError

STATUS_DETAILS_KEY = "grpc-status-details-bin"

# google/rpc/code.proto's HTTP mapping (also grpc-gateway's).
HTTP_STATUS = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500,
}
_CODES = {code.value[0]: code for code in grpc.StatusCode}


class HttpError(Exception):
    """A failure the gateway answers itself (before or instead of a gRPC call)."""

    def __init__(self, http_status: int, status: status_pb2.Status) -> None:
        super().__init__(status.message)
        self.http_status = http_status
        self.status = status

    @classmethod
    def from_api_error(cls, error: ApiError, http_status: int | None = None) -> HttpError:
        return cls(http_status or HTTP_STATUS[error.code], error.to_status_proto())

    @classmethod
    def plain(cls, http_status: int, code: grpc.StatusCode, message: str) -> HttpError:
        """An error about the HTTP request itself (no route, wrong method): no API reason
        applies, so it carries no ErrorInfo."""
        return cls(http_status, status_pb2.Status(code=code.value[0], message=message))

    def body(self) -> dict:
        return status_json(self.http_status, self.status)


def status_of_rpc_error(error: grpc.RpcError) -> tuple[int, status_pb2.Status]:
    """The HTTP status and the rich google.rpc.Status of a failed call (details from the
    grpc-status-details-bin trailer; code and message alone when it has none)."""
    code: grpc.StatusCode = error.code()
    status = status_pb2.Status(code=code.value[0], message=error.details() or "")
    for key, value in error.trailing_metadata() or ():
        if key == STATUS_DETAILS_KEY:
            status = status_pb2.Status.FromString(value)
    return HTTP_STATUS.get(code, 500), status


def status_json(http_status: int, status: status_pb2.Status) -> dict:
    """AIP-193's {"error": {...}} for one status."""
    code = _CODES.get(status.code, grpc.StatusCode.UNKNOWN)
    return {
        "error": {
            "code": http_status,
            "message": status.message,
            "status": code.name,
            "details": [_detail_json(d) for d in status.details],
        }
    }


def _detail_json(detail) -> dict:
    try:
        return json_format.MessageToDict(detail)
    except (TypeError, KeyError, json_format.SerializeToJsonError):
        # A detail type this process does not know: pass its bytes on.
        return {"@type": detail.type_url, "value": base64.b64encode(detail.value).decode()}


def json_bytes(value: object) -> bytes:
    """Compact JSON with a final newline (a curl user's prompt starts on its own line)."""
    return json.dumps(_whole_numbers(value), ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def _whole_numbers(value: object) -> object:
    """Whole floats as integers: metadata travels as google.protobuf.Struct, whose numbers
    are doubles, so {"class": 3} would come back as {"class": 3.0}. Same number in JSON."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, dict):
        return {k: _whole_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_whole_numbers(v) for v in value]
    return value
