"""gRPC channel options for Triton: client-side round robin over every address a target resolves to.

A Kubernetes ClusterIP balances connections, and a gRPC client sends all its calls over one
HTTP/2 connection, so N Triton pods behind one would see one of them do all the work of each
API pod. A target naming several addresses (`dns:///triton-headless:8001` on a headless
Service: one A record per ready pod; or `ipv4:10.0.0.1:8001,10.0.0.2:8001`) gets the
round_robin policy instead: a connection to each address, calls spread over them. A pod that
goes away fails its connection, which makes gRPC resolve the name again; pods added later join
at that next resolution (docs/deploy.md, "Load balancing").
"""

from __future__ import annotations

from typing import Any

from tritonclient.grpc import KeepAliveOptions

# tritonclient's own message limit (INT32_MAX): its defaults, kept when we pass options.
MAX_MESSAGE_BYTES = 2**31 - 1
MULTI_ADDRESS_SCHEMES = ("dns:", "ipv4:", "ipv6:")


def balances(url: str) -> bool:
    """Whether `url` is a gRPC target URI that can resolve to several addresses."""
    return url.startswith(MULTI_ADDRESS_SCHEMES)


def triton_channel_args(url: str) -> list[tuple[str, Any]] | None:
    """Channel options for tritonclient: None (its defaults) for a plain host:port, else its
    defaults plus round_robin."""
    if not balances(url):
        return None
    keepalive = KeepAliveOptions()
    return [
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ("grpc.keepalive_time_ms", keepalive.keepalive_time_ms),
        ("grpc.keepalive_timeout_ms", keepalive.keepalive_timeout_ms),
        ("grpc.keepalive_permit_without_calls", keepalive.keepalive_permit_without_calls),
        ("grpc.http2.max_pings_without_data", keepalive.http2_max_pings_without_data),
        ("grpc.lb_policy_name", "round_robin"),
    ]
