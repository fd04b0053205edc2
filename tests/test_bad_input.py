"""Every kind of bad request gets a clear status, and the server keeps serving."""

from __future__ import annotations

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from conftest import ServerProcess, corel_path
from images import encoded, png_declaring
from imagesearch_client import ImageSearchClient, InsertItem

COLLECTION = "bad-input"


def expect_error(code: grpc.StatusCode, call, *args, **kwargs) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        call(*args, **kwargs)
    assert info.value.code() == code, f"expected {code}, got {info.value.code()}: {info.value.details()}"
    assert info.value.details(), "the error must carry a message"
    return info.value


@pytest.fixture(scope="module")
def collection(client: ImageSearchClient) -> str:
    client.create_collection(COLLECTION)
    client.insert(COLLECTION, InsertItem(image=corel_path(0).read_bytes(), id="good-0"))
    return COLLECTION


BAD_IMAGES = {
    "empty": (b"", "empty"),
    "not an image": (b"hello, I am text, not a picture" * 10, "not a recognised image"),
    "truncated JPEG": (None, "could not be decoded"),
    "decompression bomb": (png_declaring(50000, 50000), "pixels"),
    "wrong type (ICO)": (encoded("ICO"), "not accepted"),
    "wrong type (PDF)": (b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF", "not a recognised image"),
}


def bad_image(kind: str) -> bytes:
    data, _ = BAD_IMAGES[kind]
    if data is None:
        whole = corel_path(1).read_bytes()
        return whole[: len(whole) // 2]
    return data


@pytest.mark.parametrize("kind", sorted(BAD_IMAGES))
def test_bad_image_insert(client: ImageSearchClient, collection: str, kind: str) -> None:
    err = expect_error(grpc.StatusCode.INVALID_ARGUMENT, client.insert, collection, InsertItem(image=bad_image(kind)))
    assert BAD_IMAGES[kind][1] in err.details()


@pytest.mark.parametrize("kind", sorted(BAD_IMAGES))
def test_bad_image_search(client: ImageSearchClient, collection: str, kind: str) -> None:
    err = expect_error(grpc.StatusCode.INVALID_ARGUMENT, client.search, collection, bad_image(kind))
    assert BAD_IMAGES[kind][1] in err.details()


def test_error_carries_field_violation(client: ImageSearchClient, collection: str) -> None:
    err = expect_error(grpc.StatusCode.INVALID_ARGUMENT, client.search, collection, b"")
    status = rpc_status.from_call(err)
    assert status is not None, "no rich status in the trailers"
    bad_request = error_details_pb2.BadRequest()
    assert status.details[0].Unpack(bad_request)
    assert bad_request.field_violations[0].field == "image"


def test_message_over_size_limit(client: ImageSearchClient, collection: str) -> None:
    huge = b"\xff\xd8\xff" + b"\0" * (33 * 1024 * 1024)
    err = expect_error(grpc.StatusCode.RESOURCE_EXHAUSTED, client.insert, collection, InsertItem(image=huge))
    assert "larger than max" in err.details() or "exceeds" in err.details() or "limit" in err.details()


def test_twenty_megabyte_photo_fits(client: ImageSearchClient, collection: str) -> None:
    # A real JPEG padded with an application segment-free tail: decoders stop at EOI.
    photo = corel_path(2).read_bytes() + b"\0" * (20 * 1000 * 1000)
    assert client.insert(collection, InsertItem(image=photo, id="big")) == "big"


@pytest.mark.parametrize("top_k", [0, -1, 1001, 10**9])
def test_absurd_top_k(client: ImageSearchClient, collection: str, top_k: int) -> None:
    err = expect_error(grpc.StatusCode.INVALID_ARGUMENT, client.search, collection, corel_path(0).read_bytes(), top_k=top_k)
    assert "top_k" in err.details()


def test_top_k_bounds_accepted(client: ImageSearchClient, collection: str) -> None:
    image = corel_path(0).read_bytes()
    assert len(client.search(collection, image, top_k=1)) == 1
    assert 1 <= len(client.search(collection, image, top_k=1000)) <= 1000


@pytest.mark.parametrize("min_score", [-0.1, 1.5, float("nan")])
def test_bad_min_score(client: ImageSearchClient, collection: str, min_score: float) -> None:
    expect_error(grpc.StatusCode.INVALID_ARGUMENT, client.search, collection, corel_path(0).read_bytes(), min_score=min_score)


@pytest.mark.parametrize("name", ["a/b", "..", "../etc", "has space", "x" * 300, "", "-leading-dash", "naïve"])
def test_hostile_collection_names(client: ImageSearchClient, name: str) -> None:
    err = expect_error(grpc.StatusCode.INVALID_ARGUMENT, client.create_collection, name)
    assert "collection name" in err.details()
    expect_error(grpc.StatusCode.INVALID_ARGUMENT, client.search, name, corel_path(0).read_bytes())


def test_unknown_collection(client: ImageSearchClient) -> None:
    image = corel_path(0).read_bytes()
    for call, args in [
        (client.get_collection, ("nope",)),
        (client.delete_collection, ("nope",)),
        (client.search, ("nope", image)),
        (client.search_by_id, ("nope", "x")),
        (client.insert, ("nope", InsertItem(image=image))),
        (client.count, ("nope",)),
        (client.get, ("nope", ["x"])),
        (client.delete, ("nope", ["x"])),
    ]:
        err = expect_error(grpc.StatusCode.NOT_FOUND, call, *args)
        assert "nope" in err.details()


def test_duplicate_collection(client: ImageSearchClient, collection: str) -> None:
    expect_error(grpc.StatusCode.ALREADY_EXISTS, client.create_collection, collection)


def test_bad_ids(client: ImageSearchClient, collection: str) -> None:
    expect_error(grpc.StatusCode.INVALID_ARGUMENT, client.insert, collection, InsertItem(image=corel_path(0).read_bytes(), id="i" * 257))
    expect_error(grpc.StatusCode.INVALID_ARGUMENT, client.get, collection, [])
    expect_error(grpc.StatusCode.INVALID_ARGUMENT, client.delete, collection, [str(i) for i in range(1001)])
    expect_error(grpc.StatusCode.NOT_FOUND, client.search_by_id, collection, "no-such-id")


def test_stream_reports_bad_items_and_stores_good_ones(client: ImageSearchClient) -> None:
    name = "bad-input-stream"
    client.create_collection(name)
    kinds = sorted(BAD_IMAGES)
    items = []
    for i, kind in enumerate(kinds):
        items.append(InsertItem(image=corel_path(100 + i).read_bytes(), id=f"good-{i}"))
        items.append(InsertItem(image=bad_image(kind), id=f"bad-{i}"))
    outcomes = sorted(client.insert_stream(name, items, timeout=120), key=lambda o: o.index)
    assert [o.index for o in outcomes] == list(range(len(items)))
    for outcome, item in zip(outcomes, items):
        assert outcome.id == item.id
        if item.id.startswith("good"):
            assert outcome.ok, outcome
        else:
            assert outcome.error_code == "INVALID_ARGUMENT" and outcome.error_message, outcome
    assert client.count(name) == len(kinds)
    assert {i.id for i in client.get(name, [f"good-{i}" for i in range(len(kinds))])} == {
        f"good-{i}" for i in range(len(kinds))
    }


def test_server_still_healthy_after_abuse(server: ServerProcess, client: ImageSearchClient, collection: str) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(server.address) as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service="imagesearch.v1.ImageSearch"), timeout=5)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
    hits = client.search(collection, corel_path(0).read_bytes(), top_k=1)
    assert hits[0].id == "good-0" and hits[0].score >= 0.99
    assert server.process.poll() is None


@pytest.mark.parametrize(
    "text, message", [("", "empty"), ("   \n", "empty"), ("x" * 1001, "limit is 1000"), ("a\x00b", "control")]
)
def test_bad_text_query(client: ImageSearchClient, collection: str, text: str, message: str) -> None:
    err = expect_error(grpc.StatusCode.INVALID_ARGUMENT, client.search_text, collection, text)
    assert message in err.details()


def test_model_set_errors(client: ImageSearchClient, collection: str) -> None:
    err = expect_error(grpc.StatusCode.INVALID_ARGUMENT, client.create_collection, "no-such-set", "nope")
    assert "unknown model set 'nope'" in err.details()
    # The CLIP set is known but this server has no CLIP models exported.
    err = expect_error(grpc.StatusCode.FAILED_PRECONDITION, client.create_collection, "clip-here", "clip")
    assert "export-clip" in err.details()
    # A query that needs another set than the collection's.
    err = expect_error(grpc.StatusCode.FAILED_PRECONDITION, client.search_text, collection, "a bus", model_set="clip")
    assert "built with model set 'offline'" in err.details()
    image = corel_path(0).read_bytes()
    expect_error(grpc.StatusCode.FAILED_PRECONDITION, client.search, collection, image, model_set="clip")
    assert client.search_text(collection, "a bus", model_set="offline")
