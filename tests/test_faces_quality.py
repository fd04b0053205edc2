"""Face quality on real photos through the real face model and the real engine
(docs/quality.md, "Faces"): detection, search ranking and threshold, two people in one
photo, strangers, clustering into exactly the five people in any insert order, Corel."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest
from conftest import COREL, corel_path
from face_fixtures import open_manager
from faces_data import FACES, TWO_PEOPLE, TWO_PEOPLE_NAMES, single_person_photos
from imagesearch.faces.errors import FaceIndexOutOfRange
from imagesearch.faces.manager import FaceManager, FaceSettings
from imagesearch.faces.scoring import SAME_PERSON_SCORE
from imagesearch.faces.search import FaceSelector
from imagesearch.inference.faces import FaceDetection, FaceDetector
from imagesearch.launcher.triton import TritonProcess
from imagesearch.models.setup import ensure_model_repository
from test_inference import MODEL_REPOSITORY, START_TIMEOUT_S, launch_config

pytestmark = [
    pytest.mark.asyncio(loop_scope="session"),
    pytest.mark.skipif(not FACES.is_dir() or not COREL.is_dir(), reason="the shared photos are not available"),
]
PHOTOS = single_person_photos()
TWO_ID = "two_people.jpg"
# Corel photos outside class 0 (African people) where HOG alone "found" a face: flowers,
# a bus wheel, a branch, a statue (docs/quality.md); with the CNN check none may remain.
HOG_FALSE_POSITIVES = (295, 344, 546, 633, 647, 685)


@pytest.fixture(scope="module")
async def detector(tmp_path_factory: pytest.TempPathFactory):
    ensure_model_repository(MODEL_REPOSITORY)
    process = TritonProcess(launch_config(tmp_path_factory.mktemp("triton"), ("face_embedding",)))
    await process.start()
    try:
        await process.wait_ready(START_TIMEOUT_S)
        client = FaceDetector(process.url)
        yield client
        await client.close()
    finally:
        await process.stop()


@pytest.fixture(scope="module")
async def detections(detector: FaceDetector) -> dict[str, FaceDetection]:
    ids = [p.item_id for p in PHOTOS] + [TWO_ID]
    paths = [p.path for p in PHOTOS] + [TWO_PEOPLE]
    found = await asyncio.gather(*(detector.detect(path.read_bytes()) for path in paths))
    return dict(zip(ids, found))


async def filled(tmp_path: Path, detector, detections, order: list[str], name: str = "faces") -> FaceManager:
    manager = open_manager(tmp_path, FaceSettings(min_faces_listed=1, recluster_every=0), detector)
    await manager.enable(name)
    for item_id in order:
        await manager.index_item(name, item_id, detections[item_id])
    return manager


def person_of_item(item_id: str) -> str:
    return item_id.split("/")[0]


async def test_every_face_is_detected(detections) -> None:
    assert {i: len(d.faces) for i, d in detections.items()} == {**{p.item_id: 1 for p in PHOTOS}, TWO_ID: 2}


async def test_each_photo_finds_its_person_first_and_above_the_threshold(tmp_path, detector, detections) -> None:
    manager = await filled(tmp_path, detector, detections, list(detections))
    try:
        for photo in PHOTOS:
            (result,) = await manager.search_image("faces", photo.path.read_bytes(), limit=50, min_score=0.0)
            same = [m for m in result.matches if person_of_item(m.item_id) == photo.person and m.item_id != photo.item_id]
            others = [m for m in result.matches if person_of_item(m.item_id) != photo.person and m.item_id != TWO_ID]
            assert len(same) == sum(p.person == photo.person for p in PHOTOS) - 1
            assert min((m.score for m in same), default=1.0) > SAME_PERSON_SCORE > max(m.score for m in others), photo
            ranks = {m.item_id: rank for rank, m in enumerate(result.matches)}
            assert max((ranks[m.item_id] for m in same), default=-1) < min(ranks[m.item_id] for m in others)
    finally:
        await manager.close()


async def test_the_two_person_photo_returns_each_of_its_people(tmp_path, detector, detections) -> None:
    singles = [p.item_id for p in PHOTOS]
    manager = await filled(tmp_path, detector, detections, singles)
    try:
        results = await manager.search_image("faces", TWO_PEOPLE.read_bytes())
        found = [{person_of_item(m.item_id) for m in r.matches} for r in results]
        assert sorted(map(sorted, found)) == sorted([[n] for n in TWO_PEOPLE_NAMES])
        (second,) = await manager.search_image("faces", TWO_PEOPLE.read_bytes(), FaceSelector(index=1))
        assert second.query_index == 1 and second.matches
        (by_box,) = await manager.search_image("faces", TWO_PEOPLE.read_bytes(), FaceSelector(box=results[0].query_box))
        assert by_box.query_index == 0
        with pytest.raises(FaceIndexOutOfRange):
            await manager.search_image("faces", TWO_PEOPLE.read_bytes(), FaceSelector(index=2))
        # No face in the query: an empty answer, not an error.
        assert await manager.search_image("faces", corel_path(450).read_bytes()) == []
    finally:
        await manager.close()


async def test_a_stranger_finds_nobody(tmp_path, detector, detections) -> None:
    known = [p.item_id for p in PHOTOS if p.person != "alex_lacamoire"]
    manager = await filled(tmp_path, detector, detections, known)
    try:
        stranger = next(p for p in PHOTOS if p.person == "alex_lacamoire")
        (result,) = await manager.search_image("faces", stranger.path.read_bytes())
        assert result.matches == ()
    finally:
        await manager.close()


async def people_as_items(manager: FaceManager) -> set[frozenset[str]]:
    """Each listed person as the set of its face ids."""
    return {frozenset(p.face_ids) for p in await manager.people_summaries("faces", min_faces=1)}


async def test_clustering_yields_the_five_people_in_any_order(tmp_path, detector, detections) -> None:
    expected = {
        frozenset(
            [f"0:{p.item_id}" for p in PHOTOS if p.person == person]
            + [f"{TWO_PEOPLE_NAMES.index(person)}:{TWO_ID}" for _ in [0] if person in TWO_PEOPLE_NAMES]
        )
        for person in {p.person for p in PHOTOS}
    }
    orders = [list(detections), list(reversed(detections))]
    orders.append(random.Random(7).sample(list(detections), len(detections)))
    for n, order in enumerate(orders):
        manager = await filled(tmp_path / str(n), detector, detections, order)
        try:
            assert await people_as_items(manager) == expected, order
            await manager.recluster("faces")
            assert await people_as_items(manager) == expected, order
            listed = await manager.list_people("faces")
            assert len(listed) == 5
            # By default a person needs two faces to be listed: Alex (one photo) is not.
            assert len(await manager.list_people("faces", min_faces=2)) == 4
        finally:
            await manager.close()


async def test_no_face_in_corel_outside_its_people_class(detector) -> None:
    # A spread sample of the 900 photos without people, and every one where HOG alone erred.
    sample = sorted(set(range(100, 1000, 25)) | set(HOG_FALSE_POSITIVES))
    found = await asyncio.gather(*(detector.detect(corel_path(i).read_bytes()) for i in sample))
    assert {i: len(d.faces) for i, d in zip(sample, found) if d.faces} == {}


async def test_people_of_real_photos_survive_a_restart(tmp_path, detector, detections) -> None:
    manager = await filled(tmp_path, detector, detections, list(detections))
    first = (await manager.list_people("faces"))[0]
    await manager.name_person("faces", first.id, "Named")
    before = await manager.list_people("faces")
    await manager.close()
    reopened = open_manager(tmp_path, FaceSettings(min_faces_listed=1, recluster_every=0), detector)
    try:
        assert await reopened.list_people("faces") == before
        assert (await reopened.person("faces", first.id)).name == "Named"
    finally:
        await reopened.close()
