"""Calibrated scores (imagesearch/scoring): the calibration's rules (monotone, bounds,
versions pinned), the copy lift, the query's rotations, and the SearchItems plumbing over
fake encoders and the real embedded store. The bands on real photos: test_score_bands.py."""

from __future__ import annotations

import io
import json

import grpc
import numpy as np
import pytest
from imagesearch_client.v1 import imagesearch_pb2 as pb
from imagesearch_client.v1 import imagesearch_pb2_grpc as pb_grpc
from PIL import Image

from api_fakes import start_fake_server
from conftest import corel_path
from imagesearch.dedup.fingerprint import fingerprint
from imagesearch.dedup.rule import NearDuplicateRule
from imagesearch.scoring import calibration, registry
from imagesearch.scoring.calibration import CalibrationError, CosineCalibration, band, Band
from imagesearch.scoring.neighbourhood import consensus
from imagesearch.scoring.orientations import rotated_queries, turned
from imagesearch.scoring.scorer import Scorer


def test_every_shipped_calibration_is_monotone_bounded_and_released() -> None:
    files = sorted(calibration.CALIBRATION_DIR.glob("*.json"))
    assert files, "no calibration shipped"
    cosines = np.linspace(-1, 1, 2001)
    for path in files:
        document = json.loads(path.read_text())
        loaded = registry.load(document["model_set"], document["version"])
        assert path.name == f"{loaded.model_set}.v{loaded.version}.json"
        for name, space in loaded.spaces.items():
            scores = np.array([space.score(c) for c in cosines])
            assert np.all(np.diff(scores) >= 0), name
            assert scores.min() >= 0 and scores.max() <= 1, name
            for target in (0.3, 0.5, 0.7, 0.9):
                if space.scores[0] < target <= space.scores[-1]:
                    assert space.score(space.min_cosine(target)) == pytest.approx(target, abs=1e-9)
    for model_set, version in registry.CURRENT.items():
        assert (model_set, version) in registry.RELEASED and registry.current(model_set).version == version


def test_image_knots_are_the_band_edges() -> None:
    image = registry.current("offline").space("image")
    assert image.scores == (0.0, 0.5, 0.7, 0.9, 1.0)
    assert band(image.score(image.cosines[1] - 1e-3)) is Band.NOISE
    assert band(image.score(image.cosines[2])) is Band.RELATED
    assert band(image.score(image.cosines[3])) is Band.NEAR_DUPLICATE


def test_a_changed_released_calibration_is_refused(tmp_path, monkeypatch) -> None:
    """Scores must not change silently: new knots need a new version."""
    document = json.loads(registry.path_of("offline", 1).read_text())
    document["spaces"]["image"]["cosines"][2] += 0.01
    (tmp_path / "offline.v1.json").write_text(json.dumps(document))
    monkeypatch.setattr(registry, "CALIBRATION_DIR", tmp_path)
    registry.load.cache_clear()
    try:
        with pytest.raises(CalibrationError, match="new version"):
            registry.load("offline", 1)
    finally:
        registry.load.cache_clear()


@pytest.mark.parametrize("cosines, scores", [
    ((0.0, 0.5, 0.4), (0.0, 0.5, 1.0)),  # not increasing
    ((0.0, 0.5, 1.0), (0.0, 0.6, 0.6)),  # flat: not invertible
    ((0.0, 1.0), (0.0, 1.2)),  # out of 0..1
    ((-1.5, 1.0), (0.0, 1.0)),
    ((0.5,), (0.5,)),
])
def test_bad_knots_are_refused(cosines, scores) -> None:
    with pytest.raises(CalibrationError):
        CosineCalibration(cosines, scores)


def test_copy_lift_and_caps() -> None:
    scorer = Scorer(registry.current("offline"), "image")
    rule = NearDuplicateRule()
    assert scorer.copy_lift(rule.min_copy_score) == pytest.approx(0.9)
    assert scorer.copy_lift(1.0) == pytest.approx(1.0)
    assert scorer.copy_lift(rule.min_copy_score - 0.01) is None
    knee = scorer.cosine_map.cosines[3]
    assert scorer.score(knee - 0.01) < 0.9 <= scorer.score(knee - 0.01, rule_score=0.95)
    # Evidence never lowers a score.
    assert scorer.score(0.99, rule_score=0.2) == scorer.score(0.99)
    uncalibrated = Scorer(None, "image")
    assert uncalibrated.label == "none" and uncalibrated.score(0.42) == pytest.approx(0.42)
    assert uncalibrated.candidates == 0


def test_a_turned_copy_aligns_only_when_turned_back() -> None:
    data = corel_path(512).read_bytes()
    turns = rotated_queries(data)
    assert sorted(turns) == [1, 2, 3]
    original = fingerprint(data)
    rule = NearDuplicateRule()
    for k, rotated in turns.items():
        copy = fingerprint(rotated)
        with Image.open(io.BytesIO(rotated)) as image:
            assert max(image.size) <= 448
        # The query turned by k was the original turned by k: turning the copy's
        # fingerprint back by -k aligns it, as the server does for the turn that matched.
        assert rule.score(turned(copy, -k), original, 0.9) >= rule.min_copy_score, k
        if k != 2:
            assert rule.score(copy, original, 0.9) < rule.min_copy_score, k


@pytest.fixture(scope="module")
async def stub(tmp_path_factory):
    fake = await start_fake_server(tmp_path_factory.mktemp("scoring"))
    channel = grpc.aio.insecure_channel(fake.address)
    yield pb_grpc.ImageSearchServiceStub(channel)
    await channel.close()
    await fake.stop()


@pytest.mark.asyncio(loop_scope="session")
async def test_search_reports_the_calibration_and_the_copies_mode(stub) -> None:
    await stub.CreateCollection(pb.CreateCollectionRequest(collection_id="cal", collection=pb.Collection()))
    for i in (100, 101, 600):
        await stub.CreateItem(pb.CreateItemRequest(
            parent="collections/cal", item_id=f"c{i}", item=pb.Item(), image=pb.Image(content=corel_path(i).read_bytes())
        ))
    query = pb.Image(content=corel_path(100).read_bytes())
    hits = [h async for h in stub.SearchItems(pb.SearchItemsRequest(parent="collections/cal", image=query))]
    assert {h.score_calibration for h in hits} == {registry.current("offline").label}
    assert hits[0].item.name.endswith("/c100") and hits[0].near_duplicate and hits[0].score == pytest.approx(1.0)
    assert all(a.score >= b.score for a, b in zip(hits, hits[1:]))
    copies = [h async for h in stub.SearchItems(pb.SearchItemsRequest(
        parent="collections/cal", image=query, mode=pb.SEARCH_MODE_COPIES))]
    assert copies[0].item.name == hits[0].item.name and copies[0].near_duplicate
    # min_score applies to the calibrated score.
    cut = [h async for h in stub.SearchItems(pb.SearchItemsRequest(
        parent="collections/cal", image=query, min_score=0.95))]
    assert [h.item.name for h in cut] == [h.item.name for h in hits if h.score >= 0.95]
    # offline/v3: a hit's score does not depend on how many hits were asked for (the
    # neighbourhood is the query's 10 best whatever the limit), nor on min_score.
    assert registry.current("offline").neighbourhood is not None
    for top_k in (1, 2):
        fewer = [h async for h in stub.SearchItems(pb.SearchItemsRequest(
            parent="collections/cal", image=query, top_k=top_k))]
        assert [(h.item.name, h.score) for h in fewer] == [(h.item.name, h.score) for h in hits[:top_k]]
    weak = hits[-1].score
    kept = [h async for h in stub.SearchItems(pb.SearchItemsRequest(
        parent="collections/cal", image=query, min_score=weak))]
    assert [(h.item.name, h.score) for h in kept] == [(h.item.name, h.score) for h in hits if h.score >= weak]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        async for _ in stub.SearchItems(pb.SearchItemsRequest(
                parent="collections/cal", text="a bus", mode=pb.SEARCH_MODE_COPIES)):
            pass
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "mode" in caught.value.details()


def test_text_scores_are_capped_by_their_distance_below_the_querys_best() -> None:
    """offline/v2: a text hit scores the lower of its fused score's map and the map of how
    far it is below the query's best hit; v1 had only the first (pinned collections keep it)."""
    v1, v2 = Scorer(registry.load("offline", 1), "text:text_image"), Scorer(registry.load("offline", 2), "text:text_image")
    best = 0.8
    assert v2.text_score(best, best) == pytest.approx(v1.text_score(best, best)) == pytest.approx(v1.cosine_map.score(best))
    far = best - 0.2  # well below this query's best: noise whatever its level
    assert v1.text_score(far, best) >= 0.5 > v2.text_score(far, best)
    fused = np.linspace(0.3, best, 50)
    scores = [v2.text_score(f, best) for f in fused]
    assert all(a <= b for a, b in zip(scores, scores[1:])) and max(scores) < 0.9  # order kept, never a copy
    assert registry.load("offline", 2).space("image") == registry.load("offline", 1).space("image")


def test_consensus_is_the_mean_cosine_to_the_other_neighbours() -> None:
    e = np.eye(3, dtype=np.float32)
    vectors = {"a": e[0], "b": e[0] * 0.6 + e[1] * 0.8, "c": e[2], "far": e[1]}
    agreement = consensus(["a", "b", "c", "far"], vectors, 3, ["a", "b", "far", "gone"])
    assert agreement["a"] == pytest.approx((0.6 + 0.0) / 2)  # itself left out
    assert agreement["b"] == pytest.approx((0.6 + 0.0) / 2)
    assert agreement["far"] == pytest.approx((0.0 + 0.8 + 0.0) / 3)  # outside the k: all k count
    assert "gone" not in agreement  # no stored vector: scored by its cosine alone
    assert consensus(["a"], vectors, 3, ["a"]) == {}  # nobody else to agree with


def test_v3_scores_by_cosine_and_consensus_and_keeps_the_copy_band() -> None:
    """offline/v3: the blend of cosine and consensus is mapped instead of the cosine, so a
    weak hit that resembles the query's other neighbours is lifted and one that does not
    is noise; a cosine in the near-duplicate band keeps it; v2 is unchanged."""
    v2, v3 = Scorer(registry.load("offline", 2), "image"), Scorer(registry.load("offline", 3), "image")
    assert v2.neighbourhood is None and v3.neighbourhood is not None
    assert v3.min_cosine(0.7) == -1.0 and v2.min_cosine(0.7) > 0  # the store cannot cut by cosine
    weak = v2.cosine_map.cosines[1] - 0.03  # v2: noise
    assert v2.score(weak, None, 0.9) == v2.score(weak) < 0.5
    assert v3.score(weak, None, 0.75) >= 0.7 > 0.5 > v3.score(weak, None, 0.3)
    assert v3.score(weak) == v2.score(weak)  # no consensus (no stored vector): the cosine's map
    copy_cosine = v3.cosine_map.cosines[3] + 0.01
    assert v3.score(copy_cosine, None, 0.0) == v3.score(copy_cosine) >= 0.9 <= v3.score(copy_cosine, None, 1.0)
    assert v3.score(weak, 0.95, 0.3) >= 0.9  # copy evidence still lifts
    blends = np.linspace(-1, 1, 401)
    for consensus_value in (0.0, 0.5, 1.0):
        scores = [v3.score(c, None, consensus_value) for c in blends]
        assert all(a <= b for a, b in zip(scores, scores[1:])) and 0 <= min(scores) and max(scores) <= 1


def test_ranked_scores_keep_the_cosine_order_but_for_copies() -> None:
    """A hit never scores above the one ranked above it by cosine (before copy lifts), so a
    high-consensus hit cannot overtake e.g. the unlifted original of a half crop."""
    v3 = Scorer(registry.load("offline", 3), "image")
    cosines, agreement = [0.80, 0.70, 0.68, 0.60], [0.30, 0.20, 0.85, 0.80]
    alone = [v3.score(c, None, a) for c, a in zip(cosines, agreement)]
    assert alone[2] > alone[1]  # the blend alone would reorder
    scores = v3.ranked_scores(cosines, [None, None, 0.97, None], agreement)
    assert scores[0] == alone[0] and scores[1] == alone[1] and scores[3] == min(alone[1], alone[3])
    assert scores[2] == pytest.approx(v3.copy_lift(0.97)) and scores[2] >= 0.9  # a copy is still lifted over them
    v2 = Scorer(registry.load("offline", 2), "image")
    assert v2.ranked_scores(cosines, [None] * 4, agreement) == [v2.score(c) for c in cosines]  # v2: unchanged
