"""Format versions: the format-1 and format-2 fixtures (written by commits d7d3941's and 4210b76's own code) open with
the current code, migrated in place, with every item, vector, payload and setting intact;
newer formats are refused; a kill -9 during a migration leaves each record old or new."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import DATASETS
from imagesearch.store.edge import EdgeStore
from imagesearch.store.faces import FaceStore, open_face_vectors
from imagesearch.store.features import KNOWN_FEATURES
from imagesearch.store.format import COLLECTION_FORMAT_VERSION, DATA_FORMAT_VERSION, FORMAT_FILE, FormatTooNew, read_data_dir_version
from imagesearch.store.migrations import prepare_data_dir

FIXTURE = Path(__file__).parent / "fixtures" / "format_v1"
FIXTURE_V2 = Path(__file__).parent / "fixtures" / "format_v2"
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def v1_data_dir(tmp_path: Path) -> Path:
    with tarfile.open(FIXTURE / "data.tar.xz") as tar:
        tar.extractall(tmp_path, filter="data")
    return tmp_path / "data"


@pytest.fixture
def v2_data_dir(tmp_path: Path) -> Path:
    with tarfile.open(FIXTURE_V2 / "data.tar.xz") as tar:
        tar.extractall(tmp_path, filter="data")
    return tmp_path / "data"


async def _all_points(store: EdgeStore, name: str):
    points, offset = [], None
    while True:
        page, offset = await store.scroll(name, offset, 100)
        points.extend(page)
        if offset is None:
            return points


def test_format_1_fixture_opens_migrated_with_everything_intact(v1_data_dir: Path, caplog) -> None:
    assert read_data_dir_version(v1_data_dir) == 1
    caplog.set_level(logging.INFO, logger="imagesearch.store.migrations")
    expected = _check_fixture_data(v1_data_dir, FIXTURE)
    for name in expected["collections"]:
        record = json.loads((v1_data_dir / "collections" / name / "collection.json").read_text())
        assert record["keep_originals"] is False
    assert "format 1 -> 2" in caplog.text and "format 2 -> 3" in caplog.text and "corel12" in caplog.text
    # A second start finds nothing to do.
    assert not prepare_data_dir(v1_data_dir).migrated


def test_format_2_fixture_opens_migrated_with_originals_faces_and_ocr_lines(v2_data_dir: Path, caplog) -> None:
    """Written by format-2 code (tests/fixtures/format_v2/README.md), with a collection that
    keeps originals and has faces and OCR on: all of it reads back after the move to 3."""
    assert read_data_dir_version(v2_data_dir) == 2
    caplog.set_level(logging.INFO, logger="imagesearch.store.migrations")
    expected = _check_fixture_data(v2_data_dir, FIXTURE_V2)
    assert "format 2 -> 3" in caplog.text and "format 1 -> 2" not in caplog.text

    async def extras() -> None:
        store = EdgeStore(v2_data_dir)
        faces = FaceStore(open_face_vectors(v2_data_dir, index_threshold=20_000))
        try:
            assert await store.keeps_originals("extras")
            for point in await store.get("extras", ["sign", "two-people"]):
                source = DATASETS / ("ocr" if point.id == "sign" else "faces") / point.metadata["file"]
                assert await store.get_original("extras", point.id) == source.read_bytes()
            stored = {f.id: {"item_id": f.item_id, "box": list(f.box), "norm": f.norm} async for f in faces.scan("extras")}
            assert stored == expected["faces"] and len(stored) == 2
        finally:
            await faces.close()
            await store.close()

    asyncio.run(extras())
    assert not prepare_data_dir(v2_data_dir).migrated


def _check_fixture_data(data_dir: Path, fixture: Path) -> dict:
    """Opens `data_dir` with the current code (migrating it) and checks every collection,
    item, vector, payload and setting against the fixture's records; returns them."""
    expected = json.loads((fixture / "expected.json").read_text())
    vectors = np.load(fixture / "expected.npz")

    async def check() -> None:
        store = EdgeStore(data_dir)
        try:
            infos = {i.name: i for i in await store.list_collections()}
            assert set(infos) == set(expected["collections"])
            for name, want in expected["collections"].items():
                await _check_collection(store, infos[name], want, vectors)
        finally:
            await store.close()

    asyncio.run(check())
    assert read_data_dir_version(data_dir) == DATA_FORMAT_VERSION
    for name in expected["collections"]:
        record = json.loads((data_dir / "collections" / name / "collection.json").read_text())
        assert record["format_version"] == COLLECTION_FORMAT_VERSION
        assert "score_calibration_version" not in record  # unpinned: reads as offline/v1
    return expected


async def _check_collection(store: EdgeStore, info, want: dict, vectors) -> None:
    name = info.name
    assert info.count == want["count"]
    assert info.created_at == want["created_at"]
    assert info.moderation.to_dict() == want["moderation"]
    assert info.model_set.name == want["model_set"]["name"]
    assert [[s.name, s.model.name, s.model.version, s.model.dimension] for s in info.model_set.spaces] \
        == want["model_set"]["spaces"]
    points = {p.id: p for p in await _all_points(store, name)}
    assert set(points) == set(want["items"])
    got = {p.id: p for p in await store.get(name, list(want["items"]))}
    for point_id, item in want["items"].items():
        point = points[point_id]
        assert point.metadata == item["metadata"] == got[point_id].metadata
        assert point.fingerprint == item["fingerprint"]
        for space, vector in point.vectors.items():
            np.testing.assert_array_equal(vector, vectors[f"{name}/{point_id}/{space}"])
        assert got[point_id].nsfw_score == item["nsfw"]
        # Format 1 recorded no features: stored before OCR and faces existed, and the
        # "unscored" items also lack NSFW. Format 2's fixture recorded what its code read.
        lacking = item.get("missing_features")
        if lacking is None:
            lacking = {"ocr", "faces"} | ({"nsfw"} if item["nsfw"] is None else set())
        assert set(got[point_id].missing_features) == set(lacking)
        assert set(got[point_id].missing_features) <= set(KNOWN_FEATURES)
        if "ocr_lines" in item:
            lines = got[point_id].ocr_lines
            assert (None if lines is None else [line.text for line in lines]) == item["ocr_lines"]
        first = info.model_set.spaces[0].name
        hits = await store.search(name, point.vectors[first], 5)
        assert [h.id for h in hits] == want["top5_by_own_vector"][point_id]
        assert hits[0].nsfw_score == item["nsfw"]


def test_newer_data_dir_is_refused_untouched(tmp_path: Path) -> None:
    (tmp_path / FORMAT_FILE).write_text(json.dumps({"format_version": DATA_FORMAT_VERSION + 1}))
    with pytest.raises(FormatTooNew) as caught:
        EdgeStore(tmp_path)
    assert caught.value.found == DATA_FORMAT_VERSION + 1
    assert f"format {DATA_FORMAT_VERSION + 1}" in str(caught.value)
    assert not (tmp_path / "collections").exists()


def test_newer_collection_is_refused_before_any_migration(v1_data_dir: Path) -> None:
    sidecar = v1_data_dir / "collections" / "capped" / "collection.json"
    sidecar.write_text(json.dumps({**json.loads(sidecar.read_text()), "format_version": 99}))
    before = {p: p.read_bytes() for p in (v1_data_dir / "collections").glob("*/collection.json")}
    with pytest.raises(FormatTooNew) as caught:
        EdgeStore(v1_data_dir)
    assert caught.value.found == 99 and "capped" in str(caught.value)
    assert {p: p.read_bytes() for p in before} == before
    assert not (v1_data_dir / FORMAT_FILE).exists()


MIGRATE_CHILD = "import sys; from pathlib import Path; from imagesearch.store.migrations import prepare_data_dir; " \
                "prepare_data_dir(Path(sys.argv[1]))"


def test_kill_9_during_migration_leaves_each_record_old_or_new(tmp_path: Path) -> None:
    """Many format-1 records (sidecars only: the migration does not open shards), a real
    migration in a child process, killed with SIGKILL as soon as the first record is new."""
    template = json.loads((FIXTURE / "expected.json").read_text())["collections"]["corel12"]
    record = {"model_set": {"name": "offline", "spaces": [
        {"name": s[0], "model": {"name": s[1], "version": s[2], "dimension": s[3]}}
        for s in template["model_set"]["spaces"]]}, "created_at": 1.0, "nsfw_scoring": True, "max_nsfw_score": None}
    names = [f"c{i:04d}" for i in range(400)]
    for name in names:
        (tmp_path / "collections" / name).mkdir(parents=True)
        (tmp_path / "collections" / name / "collection.json").write_text(json.dumps(record))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "server"), os.environ.get("PYTHONPATH", "")])}
    child = subprocess.Popen([sys.executable, "-c", MIGRATE_CHILD, str(tmp_path)], env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and child.poll() is None:
        if b"format_version" in (tmp_path / "collections" / names[0] / "collection.json").read_bytes():
            break
        time.sleep(0.001)
    child.send_signal(signal.SIGKILL)
    child.wait()
    states = []
    for name in names:
        raw = json.loads((tmp_path / "collections" / name / "collection.json").read_text())  # never half-written
        states.append(raw.get("format_version", 1))
        assert {k: v for k, v in raw.items() if k not in ("format_version", "keep_originals")} == record
    assert set(states) <= set(range(1, COLLECTION_FORMAT_VERSION + 1))
    done = states.count(COLLECTION_FORMAT_VERSION)
    print(f"\nkilled with {len(names) - states.count(1)} of {len(names)} records migrated at least one step, {done} to the end")
    if child.returncode == -signal.SIGKILL and done < len(names):
        assert read_data_dir_version(tmp_path) == 1  # the marker is written last
    report = prepare_data_dir(tmp_path)
    assert read_data_dir_version(tmp_path) == DATA_FORMAT_VERSION
    assert len(report.migrated) == len(names) - done
    for name in names:
        raw = json.loads((tmp_path / "collections" / name / "collection.json").read_text())
        assert raw["format_version"] == COLLECTION_FORMAT_VERSION


def test_format_2_data_dir_moves_to_3_with_only_the_version_rewritten(v2_data_dir: Path, caplog) -> None:
    """Format 2 (written from commit 2ad7dea up to the parent of 443a9b4, the score pins)
    differs from 3 only in what 3 may add (format.py): the records of the fixture written by
    format-2 code are kept as they are but for the version, and a format-2 server meeting a
    format-3 data dir is refused by the check above, never served a stale shard/."""
    records = {sidecar.parent.name: json.loads(sidecar.read_text())
               for sidecar in (v2_data_dir / "collections").glob("*/collection.json")}
    assert {r["format_version"] for r in records.values()} == {2}
    caplog.set_level(logging.INFO, logger="imagesearch.store.migrations")
    report = prepare_data_dir(v2_data_dir)
    assert report.found == 2 and sorted(report.migrated) == sorted(records)
    assert report.steps == [next(s for s in report.steps if s.startswith("format 2 -> 3"))]
    for name, before in records.items():
        after = json.loads((v2_data_dir / "collections" / name / "collection.json").read_text())
        assert after == {**before, "format_version": 3}
    assert read_data_dir_version(v2_data_dir) == 3

    async def pins() -> dict:
        store = EdgeStore(v2_data_dir)
        try:
            return {i.name: i.score_pin.version for i in await store.list_collections()}
        finally:
            await store.close()

    assert set(asyncio.run(pins()).values()) == {None}  # unpinned: scored as offline/v1
