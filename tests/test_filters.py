"""Metadata filters through the real server: evaluated in the engine, bad filters refused."""

from __future__ import annotations

from datetime import datetime, timezone

import grpc
import pytest

from conftest import corel_path
from imagesearch_client import ImageSearchClient, InsertItem
from imagesearch_client.errors import field_violations
from imagesearch_client.filters import (
    datetime_range,
    exists,
    is_empty,
    match,
    match_any,
    nested,
    num_range,
    where,
)
from imagesearch_client.v1 import imagesearch_pb2 as pb
from test_bad_input import expect_error

COLLECTION = "filters"
# Ten photos from each of six classes: the class filter keeps 1 in 6.
INDICES = [c * 100 + i for c in range(6) for i in range(10)]


def item_metadata(i: int) -> dict:
    data = {
        "class": i // 100,
        "n": i,
        "price": (i % 10) * 2.5,
        "taken": datetime(2024, 1 + i // 100, 1 + i % 10, tzinfo=timezone.utc).isoformat(),
        "camera": {"make": "acme" if i % 2 else "zeta"},
    }
    if i % 10 == 0:
        data["tags"] = ["cover"]
    return data


@pytest.fixture(scope="module")
def collection(client: ImageSearchClient) -> str:
    client.create_collection(COLLECTION)
    items = [InsertItem(image=corel_path(i).read_bytes(), id=f"f{i}", metadata=item_metadata(i)) for i in INDICES]
    assert all(o.ok for o in client.import_items(COLLECTION, items, timeout=300))
    return COLLECTION


def ids_of(hits) -> set[int]:
    return {int(h.id[1:]) for h in hits}


def test_selective_filter_returns_top_k(client: ImageSearchClient, collection: str) -> None:
    # The query is a class-0 photo; only class-4 items may come back, and all 10 of them do.
    hits = client.search(collection, corel_path(0).read_bytes(), top_k=10, filter=where(must=[match("class", 4)]))
    assert ids_of(hits) == {400 + i for i in range(10)}
    assert [h.rank for h in hits] == list(range(1, 11))


def test_condition_kinds(client: ImageSearchClient, collection: str) -> None:
    image = corel_path(0).read_bytes()
    cases = {
        "keyword in nested object": (where(must=[match("camera.make", "acme")]), lambda i: i % 2 == 1),
        "any integer": (where(must=[match_any("n", [3, 105, 999])]), lambda i: i in (3, 105)),
        "numeric range": (where(must=[num_range("price", gte=5, lt=10)]), lambda i: 5 <= (i % 10) * 2.5 < 10),
        "datetime range": (
            where(must=[datetime_range("taken", gte=datetime(2024, 2, 1, tzinfo=timezone.utc),
                                       lt=datetime(2024, 3, 1, tzinfo=timezone.utc))]),
            lambda i: i // 100 == 1,
        ),
        "exists": (where(must=[exists("tags")]), lambda i: i % 10 == 0),
        "is empty": (where(must=[is_empty("tags")], must_not=[match_any("class", [1, 2, 3, 4, 5])]),
                     lambda i: i % 10 != 0 and i // 100 == 0),
        "should": (where(should=[match("class", 2), match("n", 7)]), lambda i: i // 100 == 2 or i == 7),
        "nested": (
            where(must=[nested(where(should=[match("class", 1), match("class", 5)]))], must_not=[num_range("price", gt=5)]),
            lambda i: i // 100 in (1, 5) and (i % 10) * 2.5 <= 5,
        ),
    }
    for name, (flt, predicate) in cases.items():
        hits = client.search(collection, image, top_k=100, filter=flt)
        assert ids_of(hits) == {i for i in INDICES if predicate(i)}, name


def test_search_similar_with_filter(client: ImageSearchClient, collection: str) -> None:
    hits = client.search_similar(collection, "f0", top_k=5, filter=where(must=[match("class", 3)]))
    assert len(hits) == 5 and all(h.metadata["class"] == 3 for h in hits)


def test_text_search_with_filter(client: ImageSearchClient, collection: str) -> None:
    hits = client.search_text(collection, "a beach", top_k=10, filter=where(must=[match("class", 5)]))
    assert ids_of(hits) == {500 + i for i in range(10)}


def test_count_and_list_with_filter(client: ImageSearchClient, collection: str) -> None:
    flt = where(must=[match("camera.make", "acme"), num_range("class", lte=2)])
    wanted = {i for i in INDICES if i % 2 == 1 and i // 100 <= 2}
    assert client.count_items(collection, flt) == len(wanted)
    assert client.count_items(collection) == len(INDICES)
    assert ids_of(client.list_items(collection, filter=flt, page_size=4)) == wanted


def test_metadata_numbers_round_trip(client: ImageSearchClient, collection: str) -> None:
    item = client.get_item(collection, "f101")
    assert item.metadata["class"] == 1 and item.metadata["price"] == 2.5 and item.metadata["camera"] == {"make": "acme"}
    # Whole numbers come back as integers, so integer matches work on them.
    assert type(item.metadata["class"]) is int and type(item.metadata["n"]) is int


def condition(**kwargs) -> pb.Filter:
    return pb.Filter(must=[pb.Condition(**kwargs)])


BAD_FILTERS = {
    "no condition kind": (pb.Filter(must=[pb.Condition()]), "sets no condition"),
    "match without value": (condition(match=pb.MatchCondition(key="class")), "sets no value"),
    "bad key": (where(must=[match("a..b", 1)]), "not a metadata key"),
    "key with quote": (where(must=[match('x"y', 1)]), "not a metadata key"),
    "empty key": (where(must=[exists("")]), "not a metadata key"),
    "range without bounds": (condition(range=pb.NumericRangeCondition(key="n")), "no bound"),
    "range not finite": (where(must=[num_range("n", lt=float("nan"))]), "finite"),
    "any of mixed types": (
        condition(match_any=pb.MatchAnyCondition(key="n", keywords=["a"], integers=[1])), "either keywords or integers"
    ),
    "any of too many": (where(must=[match_any("n", list(range(300)))]), "limit is 256"),
    "too many conditions": (where(must=[match("n", i) for i in range(65)]), "more than 64"),
    "too deep": (
        where(must=[nested(where(must=[nested(where(must=[nested(where(must=[nested(where(must=[exists("n")]))]))]))]))]),
        "nested more than",
    ),
}


@pytest.mark.parametrize("kind", sorted(BAD_FILTERS))
def test_bad_filters(client: ImageSearchClient, collection: str, kind: str) -> None:
    flt, words = BAD_FILTERS[kind]
    err = expect_error(grpc.StatusCode.INVALID_ARGUMENT, client.search, collection, corel_path(0).read_bytes(), filter=flt,
                       reason="FIELD_INVALID")
    assert words in err.details()
    assert all(f.startswith("filter") for f in field_violations(err)), field_violations(err)
    # Every call that takes a filter checks it the same way.
    for call, args in ((client.count_items, (collection, flt)), (client.list_items_page, (collection, None, "", flt)),
                       (client.purge_items, (collection, flt))):
        again = expect_error(grpc.StatusCode.INVALID_ARGUMENT, call, *args, reason="FIELD_INVALID")
        assert words in again.details(), call.__name__


BAD_METADATA = {
    "dotted key": ({"a.b": 1}, "metadata key"),
    "empty key": ({"": 1}, "metadata key"),
    "long key": ({"k" * 65: 1}, "metadata key"),
    "nested key": ({"ok": {"bad key": 1}}, "metadata.ok"),
    "too deep": ({"a": {"a": {"a": {"a": {"a": {"a": {"a": {"a": {"a": 1}}}}}}}}}, "more than 8 deep"),
    "too big": ({"blob": "x" * 70_000}, "limit is 65536"),
}


@pytest.mark.parametrize("kind", sorted(BAD_METADATA))
def test_bad_metadata(client: ImageSearchClient, collection: str, kind: str) -> None:
    metadata, words = BAD_METADATA[kind]
    item = InsertItem(image=corel_path(0).read_bytes(), id="bad-metadata", metadata=metadata)
    err = expect_error(grpc.StatusCode.INVALID_ARGUMENT, client.create_item, collection, item, reason="FIELD_INVALID")
    assert words in err.details()
    # UpdateItem checks new metadata by the same rules.
    again = expect_error(grpc.StatusCode.INVALID_ARGUMENT, client.update_item, collection, "f0", metadata,
                         reason="FIELD_INVALID")
    assert words in again.details()
