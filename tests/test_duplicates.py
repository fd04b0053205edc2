"""Duplicate detection through the real server: the Corel-1K acceptance figures, the
insert policies, and FindDuplicates."""

from __future__ import annotations

import io

import grpc
import pytest
from PIL import Image

from bench.duplicates import transformed_copies
from conftest import COREL_SIZE, CorelIngest, corel_path
from imagesearch_client import ImageSearchClient, InsertItem
from test_bad_input import expect_error

MIN_RECALL = 0.99
MAX_FALSE_FLAG_RATE = 0.01


def test_originals_rarely_flagged(corel_collection: CorelIngest) -> None:
    # Inserted with the default policy (ALLOW): each result says whether it duplicates an earlier one.
    flagged = [o for o in corel_collection.outcomes if o.duplicate_of]
    rate = len(flagged) / COREL_SIZE
    print(f"\nCorel-1K originals flagged as near-duplicates at insert: {len(flagged)} ({rate:.3f})")
    assert rate <= MAX_FALSE_FLAG_RATE, [(o.id, o.duplicate_of, o.duplicate_score) for o in flagged]


def test_transformed_copies_found(client: ImageSearchClient, corel_collection: CorelIngest) -> None:
    copies = transformed_copies()
    items = [InsertItem(image=c.data, id=f"copy-{k}", duplicate_policy="skip") for k, c in enumerate(copies)]
    outcomes = sorted(client.insert_stream(corel_collection.name, items, timeout=600), key=lambda o: o.index)
    # A copy that was not recognised got stored: take it out again so the collection stays the originals.
    stored = [o.id for o in outcomes if o.ok and not o.skipped]
    if stored:
        client.delete(corel_collection.name, stored)
    found = [o.skipped and o.id == f"corel-{c.original}" for o, c in zip(outcomes, copies)]
    recall = sum(found) / len(copies)
    missed = [(c.recipe, c.original, o.id, o.duplicate_score) for o, c, ok in zip(outcomes, copies, found) if not ok]
    print(f"\nnear-duplicate recall of {len(copies)} transformed copies: {recall:.4f}; missed: {missed}")
    assert all(o.ok for o in outcomes)
    assert recall >= MIN_RECALL, missed
    assert client.count(corel_collection.name) == COREL_SIZE


def test_find_duplicates_over_originals(client: ImageSearchClient, corel_collection: CorelIngest) -> None:
    groups = client.find_duplicates(corel_collection.name, timeout=300)
    in_groups = sum(len(g.ids) for g in groups)
    print(f"\nFindDuplicates over Corel-1K: {len(groups)} groups, {in_groups} items")
    assert in_groups <= MAX_FALSE_FLAG_RATE * COREL_SIZE * 2  # a falsely flagged item brings its partner
    for group in groups:
        assert len(group.ids) >= 2 and group.ids == sorted(group.ids) and group.pairs


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
        client.insert(name, InsertItem(image=corel_path(c * 100 + 7).read_bytes(), id=f"orig-{c}"))
    return name


def test_exact_duplicate_policies(client: ImageSearchClient, dup_collection: str) -> None:
    same = corel_path(207).read_bytes()
    allowed = client.insert_outcome(dup_collection, InsertItem(image=same, id="again-allow"))
    assert (allowed.id, allowed.duplicate_of, allowed.duplicate_exact, allowed.skipped) == ("again-allow", "orig-2", True, False)
    skipped = client.insert_outcome(dup_collection, InsertItem(image=same, id="again-skip", duplicate_policy="skip"))
    assert skipped.skipped and skipped.id in {"orig-2", "again-allow"} and skipped.duplicate_exact
    assert not client.get(dup_collection, ["again-skip"])
    err = expect_error(
        grpc.StatusCode.ALREADY_EXISTS, client.insert, dup_collection,
        InsertItem(image=same, id="again-reject", duplicate_policy="reject"),
    )
    assert "same bytes" in err.details() and "orig-2" in err.details() or "again-allow" in err.details()
    client.delete(dup_collection, ["again-allow"])


def test_copies_inserted_at_once_are_caught(client: ImageSearchClient) -> None:
    """One stream carrying copies of one photo (the original and re-encodings, embedded
    concurrently by the server) stores one of them: the check and the write of each item
    are atomic."""
    name = "dup-concurrent"
    # Without the NSFW model the items leave Triton together, as one batch: their checks overlap.
    client.create_collection(name, skip_nsfw_scoring=True)
    copies = [corel_path(411).read_bytes(), *(jpeg(411, quality=q) for q in (90, 75, 60, 45, 30))]
    items = [InsertItem(image=data, id=f"same-{k}", duplicate_policy="skip") for k, data in enumerate(copies)]
    outcomes = list(client.insert_stream(name, items, timeout=120))
    assert all(o.ok for o in outcomes)
    assert client.count(name) == 1
    assert sum(not o.skipped for o in outcomes) == 1
    kept = next(o.id for o in outcomes if not o.skipped)
    assert all(o.id == kept for o in outcomes)


def test_ignore_policy_stores_without_looking_but_keeps_fingerprints(client: ImageSearchClient) -> None:
    name = "dup-ignore"
    client.create_collection(name)
    same = corel_path(207).read_bytes()
    first = client.insert_outcome(name, InsertItem(image=same, id="a", duplicate_policy="ignore"))
    second = client.insert_outcome(name, InsertItem(image=same, id="b", duplicate_policy="ignore"))
    assert first.ok and second.ok and not second.duplicate_of and not second.skipped
    assert client.count(name) == 2
    # The audit still finds them: fingerprints were stored.
    assert [g.ids for g in client.find_duplicates(name)] == [["a", "b"]]


def test_near_duplicate_policies(client: ImageSearchClient, dup_collection: str) -> None:
    copy = jpeg(507, quality=30, mirror=True)
    outcome = client.insert_outcome(dup_collection, InsertItem(image=copy, id="mirror", duplicate_policy="skip"))
    assert outcome.skipped and outcome.id == "orig-5" and not outcome.duplicate_exact and outcome.duplicate_score >= 0.9
    err = expect_error(
        grpc.StatusCode.ALREADY_EXISTS, client.insert, dup_collection, InsertItem(image=copy, duplicate_policy="reject")
    )
    assert "near-duplicate" in err.details() and "orig-5" in err.details()
    # A different photo of the same class is no duplicate.
    other = client.insert_outcome(dup_collection, InsertItem(image=corel_path(508).read_bytes(), id="other", duplicate_policy="reject"))
    assert other.ok and not other.duplicate_of
    client.delete(dup_collection, ["other"])


def test_replacing_an_item_is_not_a_duplicate_of_itself(client: ImageSearchClient, dup_collection: str) -> None:
    outcome = client.insert_outcome(
        dup_collection, InsertItem(image=corel_path(307).read_bytes(), id="orig-3", duplicate_policy="reject")
    )
    assert outcome.ok and outcome.id == "orig-3" and not outcome.duplicate_of


def test_find_duplicates_groups_copies(client: ImageSearchClient) -> None:
    name = "find-duplicates"
    client.create_collection(name)
    items = [InsertItem(image=corel_path(c * 100 + 40).read_bytes(), id=f"o{c}") for c in range(10)]
    items += [InsertItem(image=jpeg(c * 100 + 40, quality=30), id=f"q{c}") for c in (1, 4)]
    items += [InsertItem(image=jpeg(600 + 40, mirror=True), id="m6"), InsertItem(image=corel_path(640).read_bytes(), id="x6")]
    assert all(o.ok for o in client.insert_stream(name, items, timeout=120))
    groups = client.find_duplicates(name)
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
    from imagesearch.v1 import imagesearch_pb2 as pb

    request = pb.InsertRequest(collection=dup_collection, image=corel_path(1).read_bytes(), duplicate_policy=9)
    err = expect_error(grpc.StatusCode.INVALID_ARGUMENT, client._stub.Insert, request, timeout=30)
    assert "duplicate_policy" in err.details()
