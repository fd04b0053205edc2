"""Turned and mirrored copies (dedup/turnhash.py): the hash math, the rule, and the insert
check and FindDuplicates over both stores (the embedded one, and qdrant-client's local mode
for the remote store's code), with fake vectors that do not match a turned copy (as the
real embedding often does not: docs/quality.md)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from qdrant_client import AsyncQdrantClient

from api_fakes import FakeImageEncoder, image_vector, served_offline
from imagesearch.dedup import turnhash
from imagesearch.dedup.detector import DuplicateDetector
from imagesearch.dedup.fingerprint import Fingerprint, fingerprint
from imagesearch.dedup.rule import NearDuplicateRule
from imagesearch.store.base import ModerationPolicy, PointToStore
from imagesearch.store.edge import EdgeStore
from imagesearch.store.remote import RemoteQdrantStore

pytestmark = pytest.mark.filterwarnings("ignore:Local mode performs exact", "ignore:Payload indexes have no effect")

TURNS = {1: Image.Transpose.ROTATE_90, 2: Image.Transpose.ROTATE_180, 3: Image.Transpose.ROTATE_270}


def _photo(seed: int) -> Image.Image:
    """A textured, non-square picture (seeded): blocks blurred by the upscale."""
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 256, size=(12, 16, 3), dtype=np.uint8)
    return Image.fromarray(blocks).resize((320, 240), Image.BILINEAR)


def _jpeg(image: Image.Image, quality: int = 85) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality)
    return out.getvalue()


ORIGINAL = _photo(1)
OTHER = _photo(2)


def test_each_orientations_hash_is_that_of_the_turned_thumbnail() -> None:
    """The signed transposes of one DCT are the DCTs of the turned thumbnails, exactly."""
    thumb = fingerprint(_jpeg(ORIGINAL)).thumb
    dct = turnhash.thumb_dct(thumb)
    hashes = turnhash.turn_hashes(thumb)
    for orientation in turnhash.ORIENTATIONS:
        direct = turnhash.thumb_dct(orientation.apply(thumb))
        assert np.allclose(orientation.coefficients(dct), direct, atol=1e-9), orientation
        assert hashes[orientation] == turnhash.hash_of_dct(direct)
    assert len(set(hashes.values())) == 8  # a textured photo looks different every way round
    assert len({turnhash.Orientation(t, m).apply(thumb).tobytes() for t in range(4) for m in (False, True)}) == 8


def test_a_turned_copys_hash_matches_its_original_in_the_turn() -> None:
    upright = fingerprint(_jpeg(ORIGINAL)).turn_hashes[turnhash.UPRIGHT]
    for turns, transpose in TURNS.items():
        copy = fingerprint(_jpeg(ORIGINAL.transpose(transpose), quality=60))
        distance, orientation = turnhash.closest(copy.turn_hashes, upright)
        assert distance <= 4 and orientation.turns == (4 - turns) % 4 and not orientation.mirrored
    mirrored = fingerprint(_jpeg(ORIGINAL.transpose(Image.Transpose.FLIP_LEFT_RIGHT)))
    assert turnhash.closest(mirrored.turn_hashes, upright)[1] == turnhash.Orientation(0, True)


def test_chunks_round_trip_and_find_every_hash_within_three_bits() -> None:
    rng = np.random.default_rng(3)
    for _ in range(200):
        value = int(rng.integers(0, 2**63)) * 2 + int(rng.integers(0, 2))
        stored = turnhash.chunks(value)
        assert turnhash.from_chunks(stored) == value
        assert [c >> turnhash.CHUNK_BITS for c in stored] == [0, 1, 2, 3]
        flipped = value
        for bit in rng.choice(64, size=turnhash.CHUNK_GUARANTEE, replace=False):
            flipped ^= 1 << int(bit)
        looked_up = turnhash.lookup_values({turnhash.UPRIGHT: flipped})
        assert set(looked_up) & set(stored)
    # Position tags keep chunk i from matching chunk j: the same 16 bits in two places.
    assert not set(turnhash.chunks(0x0000_FFFF_1234_5678)) & set(turnhash.chunks(0xFFFF_0000_9ABC_DEF0))


def test_the_rule_accepts_turned_and_mirrored_copies_and_not_another_photo() -> None:
    rule, original = NearDuplicateRule(), fingerprint(_jpeg(ORIGINAL))
    for transpose in (*TURNS.values(), Image.Transpose.TRANSVERSE):
        copy = fingerprint(_jpeg(ORIGINAL.transpose(transpose), quality=60))
        assert rule.turned_score(copy, original) >= rule.min_copy_score
        assert rule.turned_score(original, copy) >= rule.min_copy_score
    assert rule.turned_score(fingerprint(_jpeg(OTHER)), original) < rule.min_copy_score


def test_the_stored_payload_carries_the_upright_chunks() -> None:
    fp = fingerprint(_jpeg(ORIGINAL))
    payload = fp.to_payload()
    assert payload[turnhash.TURN_HASH_KEY] == turnhash.chunks(fp.turn_hashes[turnhash.UPRIGHT])
    again = Fingerprint.from_payload(payload)  # the PNG thumbnail is lossless: same hashes
    assert again.turn_hashes == fp.turn_hashes


@pytest.mark.parametrize("kind", ["photo", "noise", "black", "white", "steps"])
def test_the_thumbnail_png_decodes_to_the_same_pixels(kind: str) -> None:
    """fingerprint._png writes the PNG itself ("Up" filter, wrapping differences): Pillow
    reads back every pixel, including rows whose difference wraps below 0 or above 255."""
    rng = np.random.default_rng(5)
    thumbs = {
        "photo": fingerprint(_jpeg(ORIGINAL)).thumb,
        "noise": rng.integers(0, 256, (128, 128), dtype=np.uint8),
        "black": np.zeros((128, 128), np.uint8),
        "white": np.full((128, 128), 255, np.uint8),
        "steps": np.repeat(np.array([0, 255] * 64, np.uint8)[:, None], 128, axis=1),
    }
    thumb = thumbs[kind]
    payload = Fingerprint(sha256="0" * 64, phash=0, thumb=thumb).to_payload()
    assert np.array_equal(Fingerprint.from_payload(payload).thumb, thumb)


RECORD = served_offline(FakeImageEncoder()).record


def _point(item_id: str, data: bytes, space: str, with_turn_hash: bool = True) -> PointToStore:
    payload = fingerprint(data).to_payload()
    if not with_turn_hash:
        del payload[turnhash.TURN_HASH_KEY]  # as stored before the field existed
    return PointToStore(id=item_id, vectors={s: image_vector(data) for s in RECORD.space_names}, fingerprint=payload)


async def _check_store(store) -> None:
    await store.create_collection("c", RECORD, ModerationPolicy(scoring=False))
    space = RECORD.spaces[0].name
    original, other = _jpeg(ORIGINAL), _jpeg(OTHER)
    await store.upsert("c", [_point("orig", original, space), _point("other", other, space),
                             _point("old", _jpeg(_photo(5)), space, with_turn_hash=False)])
    detector = DuplicateDetector(store)
    copy = _jpeg(ORIGINAL.transpose(Image.Transpose.ROTATE_90), quality=60)
    # The fake embedding of the turned copy is far from the original's: only the hash finds it.
    assert float(image_vector(copy) @ image_vector(original)) < detector.rule.min_similarity
    found = await detector.find("c", image_vector(copy), fingerprint(copy), exclude_id="new", space=space)
    assert found is not None and found.id == "orig" and not found.exact and found.score >= 0.9
    unrelated = _jpeg(_photo(3).transpose(Image.Transpose.ROTATE_90))
    assert await detector.find("c", image_vector(unrelated), fingerprint(unrelated), "new", space) is None
    exact = await detector.find("c", image_vector(original), fingerprint(original), "new", space)
    assert exact is not None and exact.exact and exact.id == "orig"
    # FindDuplicates needs no stored field: an item stored before it existed is grouped too.
    old_turned = _jpeg(_photo(5).transpose(Image.Transpose.ROTATE_270), quality=70)
    await store.upsert("c", [_point("copy", copy, space), _point("old-copy", old_turned, space)])
    groups = await detector.groups("c", space=space)
    assert sorted(g.ids for g in groups) == [("copy", "orig"), ("old", "old-copy")]


async def test_turned_copies_are_found_in_the_embedded_store(tmp_path) -> None:
    store = EdgeStore(tmp_path / "data")
    try:
        await _check_store(store)
    finally:
        await store.close()


async def test_turned_copies_are_found_in_the_remote_store() -> None:
    client = AsyncQdrantClient(location=":memory:")
    try:
        await _check_store(RemoteQdrantStore(None, client=client))
    finally:
        await client.close()


async def test_fill_gives_old_fingerprints_the_turn_hash_from_their_thumbnail(tmp_path) -> None:
    """ReprocessCollection FILL: no original read, no model run, and then the insert check
    finds a turned copy of the old item."""
    from imagesearch.store.reprocess import ReprocessMode, reprocess

    async def no_models(data: bytes):
        raise AssertionError("the turn hash needs no encoder")

    store = EdgeStore(tmp_path / "data")
    try:
        await store.create_collection("old", RECORD, ModerationPolicy(scoring=False), keep_originals=True)
        space = RECORD.spaces[0].name
        original = _jpeg(ORIGINAL)
        old = _point("o", original, space, with_turn_hash=False)
        await store.upsert("old", [PointToStore(**{**old.__dict__, "original": original})])
        copy = _jpeg(ORIGINAL.transpose(Image.Transpose.ROTATE_180), quality=60)
        detector = DuplicateDetector(store)
        assert await detector.find("old", image_vector(copy), fingerprint(copy), "new", space) is None
        report = await reprocess(store, "old", no_models, ReprocessMode.FILL, provides=frozenset({"fingerprint"}))
        assert (report.processed, report.skipped) == (1, 0)
        (stored,) = await store.get("old", ["o"], with_vectors=True)
        assert stored.fingerprint[turnhash.TURN_HASH_KEY] == fingerprint(original).to_payload()[turnhash.TURN_HASH_KEY]
        assert stored.fingerprint["sha256"] == old.fingerprint["sha256"]
        found = await detector.find("old", image_vector(copy), fingerprint(copy), "new", space)
        assert found is not None and found.id == "o"
        again = await reprocess(store, "old", no_models, ReprocessMode.FILL, provides=frozenset({"fingerprint"}))
        assert (again.processed, again.skipped) == (0, 1)
    finally:
        await store.close()
