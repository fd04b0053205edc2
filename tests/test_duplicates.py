"""Duplicate detection through the real server: the Corel-1K acceptance figures, the
insert policies, and FindDuplicates."""

from __future__ import annotations

import io

import grpc
import pytest
from PIL import Image

from bench.duplicates import transformed_copies
from conftest import COREL_SIZE, CorelIngest, corel_path
from imagesearch_client import Duplicate, ImageSearchClient, InsertItem
from imagesearch_client.errors import error_metadata, field_violations
from test_bad_input import expect_error

MIN_RECALL = 0.99
MAX_FALSE_FLAG_RATE = 0.01


def test_originals_rarely_flagged(corel_collection: CorelIngest) -> None:
    # Inserted with the default policy (ALLOW): each result says whether it duplicates an earlier one.
    flagged = [o for o in corel_collection.outcomes if o.duplicate is not None]
    rate = len(flagged) / COREL_SIZE
    print(f"\nCorel-1K originals flagged as near-duplicates at insert: {len(flagged)} ({rate:.3f})")
    assert rate <= MAX_FALSE_FLAG_RATE, [(o.id, o.duplicate) for o in flagged]


def test_transformed_copies_found(client: ImageSearchClient, corel_collection: CorelIngest) -> None:
    copies = transformed_copies()
    items = [InsertItem(image=c.data, id=f"copy-{k}", duplicate_policy="skip") for k, c in enumerate(copies)]
    outcomes = sorted(client.import_items(corel_collection.name, items, timeout=600), key=lambda o: o.index)
    # A copy that was not recognised got stored: take it out again so the collection stays the originals.
    stored = [o.id for o in outcomes if o.ok and not o.skipped]
    if stored:
        client.batch_delete_items(corel_collection.name, stored)
    # Skipped: the response is the existing item, and the duplicate names it too.
    found = [o.skipped and o.id == o.duplicate.id == f"corel-{c.original}" for o, c in zip(outcomes, copies)]
    recall = sum(found) / len(copies)
    missed = [(c.recipe, c.original, o.id, o.duplicate) for o, c, ok in zip(outcomes, copies, found) if not ok]
    print(f"\nnear-duplicate recall of {len(copies)} transformed copies: {recall:.4f}; missed: {missed}")
    assert all(o.ok for o in outcomes)
    assert recall >= MIN_RECALL, missed
    assert client.count_items(corel_collection.name) == COREL_SIZE


def test_find_duplicates_over_originals(client: ImageSearchClient, corel_collection: CorelIngest) -> None:
    groups = list(client.find_duplicates(corel_collection.name, timeout=300))
    in_groups = sum(len(g.ids) for g in groups)
    print(f"\nFindDuplicates over Corel-1K: {len(groups)} groups, {in_groups} items")
    assert in_groups <= MAX_FALSE_FLAG_RATE * COREL_SIZE * 2  # a falsely flagged item brings its partner
    for group in groups:
        assert len(group.ids) >= 2 and group.ids == sorted(group.ids) and group.pairs
        assert all({a, b} <= set(group.ids) and 0 < score <= 1 for a, b, score in group.pairs)


def jpeg(index: int, quality: int = 40, mirror: bool = False) -> bytes:
    with Image.open(corel_path(index)) as image:
        image = image.convert("RGB")
        if mirror:
            image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        out = io.BytesIO()
        image.save(out, format="JPEG", quality=quality)
    return out.getvalue()


@pytest.fixture(scope="module")
def dup_collection(client: ImageSearchClient) -> str:
    name = "duplicates"
    client.create_collection(name)
    # One photo per class: no two are alike.
    for c in range(10):
        client.create_item(name, InsertItem(image=corel_path(c * 100 + 7).read_bytes(), id=f"orig-{c}"))
    return name


def test_exact_duplicate_policies(client: ImageSearchClient, dup_collection: str) -> None:
    same = corel_path(207).read_bytes()
    allowed = client.create_item(dup_collection, InsertItem(image=same, id="again-allow"))
    assert allowed.id == "again-allow" and allowed.duplicate == Duplicate("orig-2", exact=True, score=1.0, skipped=False)
    skipped = client.create_item(dup_collection, InsertItem(image=same, id="again-skip", duplicate_policy="skip"))
    assert skipped.skipped and skipped.id in {"orig-2", "again-allow"} and skipped.duplicate.exact
    assert skipped.id == skipped.duplicate.id  # the response is the existing item
    assert not client.batch_get_items(dup_collection, ["again-skip"], allow_missing=True)
    err = expect_error(
        grpc.StatusCode.ALREADY_EXISTS, client.create_item, dup_collection,
        InsertItem(image=same, id="again-reject", duplicate_policy="reject"), reason="DUPLICATE_IMAGE",
    )
    assert "same bytes" in err.details()
    assert error_metadata(err)["item"] in {"orig-2", "again-allow"} and error_metadata(err)["exact"] == "true"
    client.delete_item(dup_collection, "again-allow")


def test_copies_inserted_at_once_are_caught(client: ImageSearchClient) -> None:
    """One stream carrying copies of one photo (the original and re-encodings, embedded
    concurrently by the server) stores one of them: the check and the write of each item
    are atomic."""
    name = "dup-concurrent"
    # Without the NSFW model the items leave Triton together, as one batch: their checks overlap.
    client.create_collection(name, skip_nsfw_scoring=True)
    copies = [corel_path(411).read_bytes(), *(jpeg(411, quality=q) for q in (90, 75, 60, 45, 30))]
    items = [InsertItem(image=data, id=f"same-{k}", duplicate_policy="skip") for k, data in enumerate(copies)]
    outcomes = list(client.import_items(name, items, timeout=120))
    assert all(o.ok for o in outcomes)
    assert client.count_items(name) == 1
    assert sum(not o.skipped for o in outcomes) == 1
    kept = next(o.id for o in outcomes if not o.skipped)
    assert all(o.id == kept for o in outcomes)


def test_ignore_policy_stores_without_looking_but_keeps_fingerprints(client: ImageSearchClient) -> None:
    name = "dup-ignore"
    client.create_collection(name)
    same = corel_path(207).read_bytes()
    first = client.create_item(name, InsertItem(image=same, id="a", duplicate_policy="ignore"))
    second = client.create_item(name, InsertItem(image=same, id="b", duplicate_policy="ignore"))
    assert (first.id, second.id) == ("a", "b") and second.duplicate is None and not second.skipped
    assert client.count_items(name) == 2
    # The audit still finds them: fingerprints were stored.
    assert [g.ids for g in client.find_duplicates(name)] == [["a", "b"]]


def test_near_duplicate_policies(client: ImageSearchClient, dup_collection: str) -> None:
    copy = jpeg(507, quality=30, mirror=True)
    outcome = client.create_item(dup_collection, InsertItem(image=copy, id="mirror", duplicate_policy="skip"))
    assert outcome.skipped and outcome.id == "orig-5" and not outcome.duplicate.exact and outcome.duplicate.score >= 0.9
    err = expect_error(
        grpc.StatusCode.ALREADY_EXISTS, client.create_item, dup_collection, InsertItem(image=copy, duplicate_policy="reject"),
        reason="DUPLICATE_IMAGE",
    )
    assert "near-duplicate" in err.details() and "orig-5" in err.details()
    assert error_metadata(err)["item"] == "orig-5" and error_metadata(err)["exact"] == "false"
    assert float(error_metadata(err)["score"]) >= 0.9
    # Turned copies are caught at insert too (the turn hash, dedup/turnhash.py).
    with Image.open(corel_path(207)) as image:
        out = io.BytesIO()
        image.convert("RGB").transpose(Image.Transpose.ROTATE_90).save(out, format="JPEG", quality=60)
    turned = client.create_item(dup_collection, InsertItem(image=out.getvalue(), id="turned", duplicate_policy="skip"))
    assert turned.skipped and turned.id == "orig-2" and turned.duplicate.score >= 0.9
    # A different photo of the same class is no duplicate.
    other = client.create_item(dup_collection, InsertItem(image=corel_path(508).read_bytes(), id="other", duplicate_policy="reject"))
    assert other.id == "other" and other.duplicate is None
    client.delete_item(dup_collection, "other")


def test_replacing_an_item_is_not_a_duplicate_of_itself(client: ImageSearchClient, dup_collection: str) -> None:
    outcome = client.create_item(
        dup_collection, InsertItem(image=corel_path(307).read_bytes(), id="orig-3", duplicate_policy="reject")
    )
    assert outcome.id == "orig-3" and outcome.duplicate is None


def test_find_duplicates_groups_copies(client: ImageSearchClient) -> None:
    name = "find-duplicates"
    client.create_collection(name)
    items = [InsertItem(image=corel_path(c * 100 + 40).read_bytes(), id=f"o{c}") for c in range(10)]
    items += [InsertItem(image=jpeg(c * 100 + 40, quality=30), id=f"q{c}") for c in (1, 4)]
    items += [InsertItem(image=jpeg(600 + 40, mirror=True), id="m6"), InsertItem(image=corel_path(640).read_bytes(), id="x6")]
    assert all(o.ok for o in client.import_items(name, items, timeout=120))
    # Groups stream as they complete; order them largest first, then by their IDs.
    groups = sorted(client.find_duplicates(name), key=lambda g: (-len(g.ids), g.ids))
    assert [g.ids for g in groups] == [["m6", "o6", "x6"], ["o1", "q1"], ["o4", "q4"]]
    exact = {(a, b): s for a, b, s in groups[0].pairs}
    assert exact[("o6", "x6")] == 1.0
    # A threshold above the mirrored copy's score drops it; identical bytes (and re-encodes
    # with an identical perceptual hash) stay.
    strict = [g.ids for g in client.find_duplicates(name, threshold=0.9999)]
    assert ["o6", "x6"] in strict and all("m6" not in ids for ids in strict)


def test_bad_duplicate_requests(client: ImageSearchClient, dup_collection: str) -> None:
    err = expect_error(grpc.StatusCode.INVALID_ARGUMENT, client.find_duplicates, dup_collection, threshold=1.5)
    assert "threshold" in err.details()
    expect_error(grpc.StatusCode.NOT_FOUND, client.find_duplicates, "no-such-collection")
    # The client refuses unknown policies itself; the server is checked through the raw stub.
    request = InsertItem(image=corel_path(1).read_bytes()).to_proto(dup_collection)
    request.duplicate_policy = 9
    err = expect_error(grpc.StatusCode.INVALID_ARGUMENT, client._stub.CreateItem, request, timeout=30, reason="FIELD_INVALID")
    assert "duplicate_policy" in err.details() and "duplicate_policy" in field_violations(err)
