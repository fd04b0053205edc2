"""Operational behaviour: Triton batching, Prometheus metrics, health, SIGTERM drain."""

from __future__ import annotations

import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import grpc
import tritonclient.grpc as triton_grpc

from conftest import ServerProcess, corel_path, free_port
from imagesearch.limits import MAX_ITEMS_PER_BATCH
from imagesearch_client import AsyncImageSearchClient, ImageSearchClient, InsertItem


# An image search reaches image_analysis when the collection's scores have a copy check
# (the default: the query's vector and fingerprint come from one decode there), and
# image_embedding otherwise.
SEARCH_MODELS = ("image_embedding", "image_analysis")


def batch_counts(triton_port: int) -> dict[int, int]:
    """Executions per batch size of the models image searches reach, from Triton's own statistics."""
    counts: dict[int, int] = {}
    with triton_grpc.InferenceServerClient(f"127.0.0.1:{triton_port}") as triton:
        for name in SEARCH_MODELS:
            model = triton.get_inference_statistics(name, as_json=True)["model_stats"][0]
            for batch in model.get("batch_stats", []):
                size = int(batch["batch_size"])
                counts[size] = counts.get(size, 0) + int(batch["compute_infer"]["count"])
    return counts


def test_concurrent_searches_are_batched(server: ServerProcess, client: ImageSearchClient) -> None:
    client.create_collection("batching")
    client.create_item("batching", InsertItem(image=corel_path(0).read_bytes(), id="only"))
    before = batch_counts(server.triton_grpc_port)
    images = [corel_path(i).read_bytes() for i in range(0, 640, 10)]
    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(lambda img: client.search("batching", img, top_k=1), images))
    assert all(r and r[0].id == "only" for r in results)
    # Triton updates its statistics just after it sends a response: give it a moment.
    deadline = time.monotonic() + 10
    while True:
        after = batch_counts(server.triton_grpc_port)
        grown = {size: after[size] - before.get(size, 0) for size in after if after[size] > before.get(size, 0)}
        if sum(size * n for size, n in grown.items()) >= len(images) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    print(f"\nnew executions by batch size under 16 concurrent searches: {dict(sorted(grown.items()))}")
    assert sum(size * n for size, n in grown.items()) >= len(images)
    assert any(size > 1 for size in grown), grown


def test_metrics_endpoint(server: ServerProcess, client: ImageSearchClient) -> None:
    assert client.list_collections_page().items is not None
    try:
        client.count_items("missing-collection")
    except grpc.RpcError:
        pass
    else:
        raise AssertionError("CountItems on a missing collection succeeded")
    text = urllib.request.urlopen(f"http://127.0.0.1:{server.metrics_port}/metrics", timeout=10).read().decode()
    service = "/imagesearch.v1.ImageSearchService"
    assert f'imagesearch_rpc_handled_total{{code="OK",method="{service}/ListCollections"}}' in text
    assert f'imagesearch_rpc_handled_total{{code="NOT_FOUND",method="{service}/CountItems"}}' in text
    assert f'imagesearch_rpc_duration_seconds_count{{method="{service}/ListCollections"}}' in text


def port_is_open(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_sigterm_drains_and_stops_triton(tmp_path, server: ServerProcess) -> None:
    """SIGTERM mid-stream: acknowledged items survive, the server exits 0, its Triton stops."""
    proc = ServerProcess(tmp_path / "drain", extra_args=["--shutdown-grace-s", "5"]).start()
    assert port_is_open(proc.triton_grpc_port)
    acknowledged: list[str] = []
    stream_error: list[grpc.RpcError] = []

    def items():
        for n in range(400):
            yield InsertItem(image=corel_path(n % 1000).read_bytes(), id=f"item-{n}")
            time.sleep(0.02)  # keep the stream open past the signal

    def ingest() -> None:
        with proc.client() as c:
            c.create_collection("drain")
            try:
                for outcome in c.import_items("drain", items(), timeout=120):
                    if outcome.ok:
                        acknowledged.append(outcome.id)
            except grpc.RpcError as exc:
                stream_error.append(exc)

    worker = threading.Thread(target=ingest)
    worker.start()
    while len(acknowledged) < 20:
        time.sleep(0.05)
        assert worker.is_alive(), stream_error
    assert proc.stop(timeout=90) == 0
    worker.join(30)
    assert not port_is_open(proc.triton_grpc_port), "Triton still listens after the server stopped"
    assert len(acknowledged) >= 20

    # Reopen the same data with the session's Triton: every acknowledged item is there.
    again = ServerProcess(proc.data_dir, extra_args=["--triton-url", f"127.0.0.1:{server.triton_grpc_port}"], port=free_port())
    again.start()
    try:
        with again.client() as c:
            found = {
                i.id
                for chunk in range(0, len(acknowledged), MAX_ITEMS_PER_BATCH)
                for i in c.batch_get_items("drain", acknowledged[chunk:chunk + MAX_ITEMS_PER_BATCH], allow_missing=True)
            }
    finally:
        again.stop()
    assert found == set(acknowledged)


def test_background_index_build(tmp_path, server: ServerProcess) -> None:
    """Past --index-threshold the server builds an HNSW index by itself, and search stays right."""
    proc = ServerProcess(
        tmp_path / "index",
        extra_args=["--triton-url", f"127.0.0.1:{server.triton_grpc_port}", "--index-threshold", "150"],
    ).start()
    try:
        with proc.client() as c:
            c.create_collection("grows")
            items = [InsertItem(image=corel_path(i).read_bytes(), id=str(i)) for i in range(0, 1000, 4)]
            assert all(o.ok for o in c.import_items("grows", items, timeout=300))
            deadline = time.monotonic() + 120
            while c.get_collection("grows").indexed_item_count == 0:
                assert time.monotonic() < deadline, "no index was built"
                time.sleep(0.5)
            info = c.get_collection("grows")
            assert info.item_count == len(items) and info.indexed_item_count > 0
            for i in (0, 404, 996):
                hits = c.search("grows", corel_path(i).read_bytes(), top_k=5)
                assert hits[0].id == str(i) and hits[0].score >= 0.99
    finally:
        proc.stop()


def test_client_wait_serving(server: ServerProcess, client: ImageSearchClient) -> None:
    client.wait_serving(timeout=10)
    with ImageSearchClient(f"127.0.0.1:{free_port()}") as nobody:
        try:
            nobody.wait_serving(timeout=1)
        except TimeoutError as exc:
            assert "not SERVING" in str(exc)
        else:
            raise AssertionError("wait_serving returned for a port nobody listens on")


async def test_async_client_wait_serving(server: ServerProcess) -> None:
    async with AsyncImageSearchClient(server.address) as c:
        await c.wait_serving(timeout=10)
    async with AsyncImageSearchClient(f"127.0.0.1:{free_port()}") as nobody:
        try:
            await nobody.wait_serving(timeout=1)
        except TimeoutError as exc:
            assert "not SERVING" in str(exc)
        else:
            raise AssertionError("wait_serving returned for a port nobody listens on")
