"""Every kind of bad request gets a clear status and a stable reason, and the server keeps serving."""

from __future__ import annotations

import inspect

import grpc
import pytest

from conftest import ServerProcess, corel_path
from images import encoded, png_declaring
from imagesearch.limits import MAX_ITEM_ID_LENGTH, MAX_ITEMS_PER_BATCH, MAX_TEXT_CHARS, MAX_TOP_K
from imagesearch_client import ImageSearchClient, InsertItem
from imagesearch_client.errors import error_metadata, error_reason, field_violations
from imagesearch_client.filters import exists, where

COLLECTION = "bad-input"


def expect_error(code: grpc.StatusCode, call, *args, reason: str | None = None, **kwargs) -> grpc.RpcError:
    """Calls `call` (draining it when it yields) and checks that it fails with `code` and a
    message, and with `reason` when given."""
    with pytest.raises(grpc.RpcError) as info:
        result = call(*args, **kwargs)
        if inspect.isgenerator(result):
            list(result)
    assert info.value.code() == code, f"expected {code}, got {info.value.code()}: {info.value.details()}"
    assert info.value.details(), "the error must carry a message"
    if reason is not None:
        assert error_reason(info.value) == reason, (error_reason(info.value), info.value.details())
    return info.value


@pytest.fixture(scope="module")
def collection(client: ImageSearchClient) -> str:
    client.create_collection(COLLECTION)
    client.create_item(COLLECTION, InsertItem(image=corel_path(0).read_bytes(), id="good-0"))
    return COLLECTION


# kind -> (bytes, words in the message, reason)
BAD_IMAGES = {
    "empty": (b"", "empty", "IMAGE_EMPTY"),
    "not an image": (b"hello, I am text, not a picture" * 10, "not a recognised image", "IMAGE_UNDECODABLE"),
    "truncated JPEG": (None, "could not be decoded", "IMAGE_UNDECODABLE"),
    "decompression bomb": (png_declaring(50000, 50000), "pixels", "IMAGE_TOO_LARGE"),
    "wrong type (ICO)": (encoded("ICO"), "not accepted", "IMAGE_FORMAT_UNSUPPORTED"),
    "wrong type (PDF)": (b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF", "not a recognised image", "IMAGE_UNDECODABLE"),
}


def bad_image(kind: str) -> bytes:
    data = BAD_IMAGES[kind][0]
    if data is None:
        whole = corel_path(1).read_bytes()
        return whole[: len(whole) // 2]
    return data


@pytest.mark.parametrize("kind", sorted(BAD_IMAGES))
def test_bad_image_insert(client: ImageSearchClient, collection: str, kind: str) -> None:
    _, words, reason = BAD_IMAGES[kind]
    err = expect_error(
        grpc.StatusCode.INVALID_ARGUMENT, client.create_item, collection, InsertItem(image=bad_image(kind)), reason=reason
    )
    assert words in err.details()
    assert "image.content" in field_violations(err)


@pytest.mark.parametrize("kind", sorted(BAD_IMAGES))
def test_bad_image_search(client: ImageSearchClient, collection: str, kind: str) -> None:
    _, words, reason = BAD_IMAGES[kind]
    err = expect_error(grpc.StatusCode.INVALID_ARGUMENT, client.search, collection, bad_image(kind), reason=reason)
    assert words in err.details()


def test_error_carries_reason_and_field_violation(client: ImageSearchClient, collection: str) -> None:
    err = expect_error(grpc.StatusCode.INVALID_ARGUMENT, client.search, collection, b"", reason="IMAGE_EMPTY")
    assert list(field_violations(err)) == ["image.content"]
    assert error_metadata(err).get("field") == "image.content"


def test_message_over_size_limit(client: ImageSearchClient, collection: str) -> None:
    huge = b"\xff\xd8\xff" + b"\0" * (33 * 1024 * 1024)
    err = expect_error(grpc.StatusCode.RESOURCE_EXHAUSTED, client.create_item, collection, InsertItem(image=huge))
    assert "larger than max" in err.details() or "exceeds" in err.details() or "limit" in err.details()


def test_twenty_megabyte_photo_fits(client: ImageSearchClient, collection: str) -> None:
    # A real JPEG padded with an application segment-free tail: decoders stop at EOI.
    photo = corel_path(2).read_bytes() + b"\0" * (20 * 1000 * 1000)
    assert client.create_item(collection, InsertItem(image=photo, id="big")).id == "big"


@pytest.mark.parametrize("top_k", [0, -1, MAX_TOP_K + 1, 10**9])
def test_absurd_top_k(client: ImageSearchClient, collection: str, top_k: int) -> None:
    err = expect_error(grpc.StatusCode.INVALID_ARGUMENT, client.search, collection, corel_path(0).read_bytes(),
                       top_k=top_k, reason="FIELD_INVALID")
    assert "top_k" in err.details() and "top_k" in field_violations(err)
    assert error_metadata(err)["limit"] == str(MAX_TOP_K)


def test_top_k_bounds_accepted(client: ImageSearchClient, collection: str) -> None:
    image = corel_path(0).read_bytes()
    assert len(client.search(collection, image, top_k=1)) == 1
    assert 1 <= len(client.search(collection, image, top_k=MAX_TOP_K)) <= MAX_TOP_K


@pytest.mark.parametrize("min_score", [-0.1, 1.5, float("nan")])
def test_bad_min_score(client: ImageSearchClient, collection: str, min_score: float) -> None:
    err = expect_error(grpc.StatusCode.INVALID_ARGUMENT, client.search, collection, corel_path(0).read_bytes(),
                       min_score=min_score, reason="FIELD_INVALID")
    assert "min_score" in field_violations(err)


@pytest.mark.parametrize("name", ["a/b", "..", "../etc", "has space", "x" * 300, "", "-leading-dash", "naïve"])
def test_hostile_collection_names(client: ImageSearchClient, name: str) -> None:
    err = expect_error(grpc.StatusCode.INVALID_ARGUMENT, client.create_collection, name, reason="RESOURCE_NAME_INVALID")
    assert "collection" in err.details() and "collection_id" in field_violations(err)
    # The same string as the collection part of a resource name.
    expect_error(grpc.StatusCode.INVALID_ARGUMENT, client.search, name, corel_path(0).read_bytes(),
                 reason="RESOURCE_NAME_INVALID")


def test_unknown_collection(client: ImageSearchClient) -> None:
    image = corel_path(0).read_bytes()
    for call, args in [
        (client.get_collection, ("nope",)),
        (client.update_collection, ("nope", "new description")),
        (client.delete_collection, ("nope",)),
        (client.search, ("nope", image)),
        (client.search_text, ("nope", "a beach")),
        (client.search_similar, ("nope", "x")),
        (client.create_item, ("nope", InsertItem(image=image))),
        (client.get_item, ("nope", "x")),
        (client.list_items_page, ("nope",)),
        (client.update_item, ("nope", "x", {"a": 1})),
        (client.delete_item, ("nope", "x")),
        (client.count_items, ("nope",)),
        (client.batch_get_items, ("nope", ["x"])),
        (client.batch_delete_items, ("nope", ["x"])),
        (client.purge_items, ("nope", where(must=[exists("a")]))),
        (client.find_duplicates, ("nope",)),
    ]:
        err = expect_error(grpc.StatusCode.NOT_FOUND, call, *args, reason="COLLECTION_NOT_FOUND")
        assert "nope" in err.details(), call.__name__
        assert error_metadata(err)["collection"] == "nope", call.__name__
    [outcome] = client.import_items("nope", [InsertItem(image=image, id="x")], timeout=60)
    assert outcome.error.code == grpc.StatusCode.NOT_FOUND and outcome.error.reason == "COLLECTION_NOT_FOUND"


def test_duplicate_collection(client: ImageSearchClient, collection: str) -> None:
    err = expect_error(grpc.StatusCode.ALREADY_EXISTS, client.create_collection, collection,
                       reason="COLLECTION_ALREADY_EXISTS")
    assert error_metadata(err)["collection"] == collection


def test_bad_ids(client: ImageSearchClient, collection: str) -> None:
    image = corel_path(0).read_bytes()
    long_id = "i" * (MAX_ITEM_ID_LENGTH + 1)
    err = expect_error(grpc.StatusCode.INVALID_ARGUMENT, client.create_item, collection, InsertItem(image=image, id=long_id),
                       reason="FIELD_INVALID")
    assert "item_id" in field_violations(err)
    expect_error(grpc.StatusCode.INVALID_ARGUMENT, client.create_item, collection,
                 InsertItem(image=image, id="tab\there"), reason="FIELD_INVALID")
    expect_error(grpc.StatusCode.INVALID_ARGUMENT, client.batch_get_items, collection, [], reason="FIELD_INVALID")
    too_many = [str(i) for i in range(MAX_ITEMS_PER_BATCH + 1)]
    expect_error(grpc.StatusCode.INVALID_ARGUMENT, client.batch_delete_items, collection, too_many, reason="FIELD_INVALID")
    expect_error(grpc.StatusCode.INVALID_ARGUMENT, client.batch_get_items, collection, too_many, reason="FIELD_INVALID")
    for call in (client.get_item, client.search_similar, client.delete_item):
        err = expect_error(grpc.StatusCode.NOT_FOUND, call, collection, "no-such-id", reason="ITEM_NOT_FOUND")
        assert error_metadata(err)["item"] == "no-such-id", call.__name__
    err = expect_error(grpc.StatusCode.NOT_FOUND, client.batch_get_items, collection, ["good-0", "no-such-id"],
                       reason="ITEM_NOT_FOUND")
    assert "no-such-id" in err.details()
    client.delete_item(collection, "no-such-id", allow_missing=True)


def test_stream_reports_bad_items_and_stores_good_ones(client: ImageSearchClient) -> None:
    name = "bad-input-stream"
    client.create_collection(name)
    kinds = sorted(BAD_IMAGES)
    items = []
    for i, kind in enumerate(kinds):
        items.append(InsertItem(image=corel_path(100 + i).read_bytes(), id=f"good-{i}"))
        items.append(InsertItem(image=bad_image(kind), id=f"bad-{i}"))
    outcomes = sorted(client.import_items(name, items, timeout=120), key=lambda o: o.index)
    assert [o.index for o in outcomes] == list(range(len(items)))
    for outcome, item in zip(outcomes, items):
        assert outcome.id == item.id
        if item.id.startswith("good"):
            assert outcome.ok and outcome.item.name == f"collections/{name}/items/{item.id}", outcome
        else:
            kind = kinds[int(item.id.split("-")[1])]
            assert outcome.error.code == grpc.StatusCode.INVALID_ARGUMENT and outcome.error.message, outcome
            assert outcome.error.reason == BAD_IMAGES[kind][2], outcome
            assert "image.content" in outcome.error.field_violations, outcome
    assert client.count_items(name) == len(kinds)
    good = [f"good-{i}" for i in range(len(kinds))]
    assert [i.id for i in client.batch_get_items(name, good)] == good


def test_server_still_healthy_after_abuse(server: ServerProcess, client: ImageSearchClient, collection: str) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(server.address) as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service="imagesearch.v1.ImageSearchService"), timeout=5)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
    hits = client.search(collection, corel_path(0).read_bytes(), top_k=1)
    assert hits[0].id == "good-0" and hits[0].score >= 0.99
    assert server.process.poll() is None


@pytest.mark.parametrize(
    "text, message",
    [("", "empty"), ("   \n", "empty"), ("x" * (MAX_TEXT_CHARS + 1), f"limit is {MAX_TEXT_CHARS}"), ("a\x00b", "control")],
)
def test_bad_text_query(client: ImageSearchClient, collection: str, text: str, message: str) -> None:
    err = expect_error(grpc.StatusCode.INVALID_ARGUMENT, client.search_text, collection, text, reason="FIELD_INVALID")
    assert message in err.details() and "text" in field_violations(err)


def test_model_set_errors(client: ImageSearchClient, collection: str) -> None:
    err = expect_error(grpc.StatusCode.INVALID_ARGUMENT, client.create_collection, "no-such-set", "nope",
                       reason="FIELD_INVALID")
    assert "unknown model set 'nope'" in err.details()
    # The CLIP set is known but this server has no CLIP models exported.
    err = expect_error(grpc.StatusCode.FAILED_PRECONDITION, client.create_collection, "clip-here", "clip",
                       reason="MODEL_SET_NOT_SERVED")
    assert "export-clip" in err.details()
    # A query that needs another set than the collection's.
    err = expect_error(grpc.StatusCode.FAILED_PRECONDITION, client.search_text, collection, "a bus", model_set="clip",
                       reason="MODEL_SET_MISMATCH")
    assert "built with model set 'offline'" in err.details()
    image = corel_path(0).read_bytes()
    expect_error(grpc.StatusCode.FAILED_PRECONDITION, client.search, collection, image, model_set="clip",
                 reason="MODEL_SET_MISMATCH")
    assert client.search_text(collection, "a bus", model_set="offline")
