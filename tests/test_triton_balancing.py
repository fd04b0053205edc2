"""The Triton client spreads calls over every address its target resolves to (round robin),
as the scale-out overlay relies on with `dns:///triton-headless:8001`.

Two real gRPC servers on loopback answer Triton's readiness RPCs and count their calls; the
target `ipv4:127.0.0.1:A,127.0.0.1:B` resolves to both, as a headless Service's DNS name
resolves to every Triton pod (no DNS server with several A records can be run here)."""

from __future__ import annotations

import asyncio
from collections import Counter

import grpc
from tritonclient.grpc import service_pb2

from imagesearch.inference.channel import balances, triton_channel_args
from imagesearch.inference.triton_client import TritonModelClient

SERVICE = "inference.GRPCInferenceService"
CALLS = 40


async def _fake_triton(name: str, counts: Counter) -> tuple[grpc.aio.Server, int]:
    """A gRPC server answering ServerReady and ModelReady with True, counting per server."""

    async def server_ready(request, context):
        counts[name] += 1
        return service_pb2.ServerReadyResponse(ready=True)

    async def model_ready(request, context):
        counts[name] += 1
        return service_pb2.ModelReadyResponse(ready=True)

    handler = grpc.method_handlers_generic_handler(SERVICE, {
        "ServerReady": grpc.unary_unary_rpc_method_handler(
            server_ready, service_pb2.ServerReadyRequest.FromString, service_pb2.ServerReadyResponse.SerializeToString),
        "ModelReady": grpc.unary_unary_rpc_method_handler(
            model_ready, service_pb2.ModelReadyRequest.FromString, service_pb2.ModelReadyResponse.SerializeToString),
    })
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, port


async def _calls_per_server(target_of) -> Counter:
    counts: Counter = Counter()
    (a, port_a), (b, port_b) = await _fake_triton("a", counts), await _fake_triton("b", counts)
    client = TritonModelClient(target_of(port_a, port_b), "image_embedding", timeout_s=5)
    try:
        for _ in range(CALLS):
            assert await client.is_ready()
    finally:
        await client.close()
        await asyncio.gather(a.stop(None), b.stop(None))
    return counts


async def test_a_multi_address_target_spreads_calls_over_every_server() -> None:
    counts = await _calls_per_server(lambda a, b: f"ipv4:127.0.0.1:{a},127.0.0.1:{b}")
    # is_ready makes two calls; round robin alternates, so each server gets about half.
    assert counts["a"] + counts["b"] == 2 * CALLS
    assert min(counts["a"], counts["b"]) >= CALLS // 2, counts


async def test_a_host_port_target_keeps_tritonclient_defaults() -> None:
    # One address, one connection: the pick_first default, tritonclient's own options.
    assert triton_channel_args("127.0.0.1:8001") is None and not balances("triton:8001")
    assert balances("dns:///triton-headless:8001")
    counts = await _calls_per_server(lambda a, b: f"127.0.0.1:{a}")
    assert counts == Counter({"a": 2 * CALLS})
