"""Faces and people over the real qdrant-edge engine, with synthetic embeddings."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO_ROOT
from face_fixtures import centres, near, open_manager, photo
from imagesearch.faces.errors import FaceNotFound, FacesNotEnabled, PersonNotFound
from imagesearch.faces.scoring import SAME_PERSON_SCORE
from imagesearch.store.base import (
    ModelRecord,
    ModelSetRecord,
    PointToStore,
    SpaceRecord,
)
from imagesearch.store.edge import EdgeStore
from imagesearch.store.faces import face_id
from imagesearch.store.shard_config import IndexSettings

CENTRES = centres(3)


@pytest.fixture
async def manager(tmp_path: Path):
    manager = open_manager(tmp_path)
    await manager.enable("photos")
    yield manager
    await manager.close()


async def test_faces_join_people_and_item_deletion_takes_its_faces(manager) -> None:
    await manager.index_item("photos", "a1", photo(near(CENTRES[0], 1)))
    await manager.index_item("photos", "a2", photo(near(CENTRES[0], 2), near(CENTRES[1], 3)))
    await manager.index_item("photos", "b1", photo(near(CENTRES[1], 4)))
    people = await manager.list_people("photos")
    assert sorted(sorted(f.split(":", 1)[1] for f in p_faces) for p_faces in
                  [await _faces_of(manager, p.id) for p in people]) == [["a1", "a2"], ["a2", "b1"]]
    assert await manager.delete_items("photos", ["a2"]) == 2
    assert sorted(p.face_count for p in await manager.list_people("photos")) == [1, 1]
    assert await manager._store.count("photos") == 2


async def _faces_of(manager, person_id: str) -> list[str]:
    return [m.face_id for m in await manager.search_person("photos", person_id)]


async def test_reinserting_an_item_replaces_its_faces(manager) -> None:
    await manager.index_item("photos", "x", photo(near(CENTRES[0], 1), near(CENTRES[1], 2)))
    await manager.index_item("photos", "x", photo(near(CENTRES[0], 3)))
    assert await manager._store.count("photos") == 1
    assert [p.face_count for p in await manager.list_people("photos")] == [1]


async def test_face_search_scores_same_person_above_the_threshold(manager) -> None:
    for i in range(3):
        await manager.index_item("photos", f"p0-{i}", photo(near(CENTRES[0], 10 + i)))
        await manager.index_item("photos", f"p1-{i}", photo(near(CENTRES[1], 20 + i)))
    result = await manager.search_face("photos", face_id("p0-0", 0), limit=10, min_score=0.0)
    assert [m.item_id for m in result.matches[:3]] == sorted(m.item_id for m in result.matches[:3])
    assert {m.item_id for m in result.matches if m.score > SAME_PERSON_SCORE} == {"p0-0", "p0-1", "p0-2"}
    assert result.matches[0].score == pytest.approx(1.0, abs=1e-3)
    # A stranger: nothing above the threshold.
    stranger = await manager._matches("photos", near(CENTRES[2], 99), 10, SAME_PERSON_SCORE)
    assert stranger == ()
    with pytest.raises(FaceNotFound):
        await manager.search_face("photos", "0:nope")


async def test_person_edits_and_deleting_a_person_deletes_its_vectors(manager) -> None:
    for i in range(2):
        await manager.index_item("photos", f"p0-{i}", photo(near(CENTRES[0], 30 + i)))
        await manager.index_item("photos", f"p1-{i}", photo(near(CENTRES[1], 40 + i)))
    first, second = await manager.list_people("photos")
    named = await manager.name_person("photos", first.id, "Ada")
    assert named.name == "Ada" and named.representative.item_id.startswith(("p0", "p1"))
    merged = await manager.merge_people("photos", first.id, second.id)
    assert merged.face_count == 4 and merged.name == "Ada"
    moved = await manager.move_face("photos", face_id("p1-0", 0), None)
    assert moved.face_count == 1 and moved.id != first.id
    # A recluster keeps what a person decided (the merge and the move are pinned).
    await manager.recluster("photos")
    assert sorted(p.face_count for p in await manager.list_people("photos")) == [1, 3]
    assert await manager.delete_person("photos", first.id) == 3
    assert await manager._store.count("photos") == 1
    with pytest.raises(PersonNotFound):
        await manager.name_person("photos", first.id, "x")


async def test_recluster_fixes_an_early_mistake(manager) -> None:
    # Two photos of one person 0.9 apart: at insert, the second starts a person of its own.
    a = CENTRES[0]
    b = a + (CENTRES[1] - a) / np.linalg.norm(CENTRES[1] - a) * 0.9
    await manager.index_item("photos", "a", photo(a))
    await manager.index_item("photos", "b", photo(b))
    assert len(await manager.list_people("photos")) == 2
    # Then photos in between (~0.45 from both) show they are one person.
    for i in range(3):
        await manager.index_item("photos", f"m{i}", photo(near((a + b) / 2, i, spread=0.01)))
    assert sorted(p.face_count for p in await manager.list_people("photos")) in ([1, 4], [2, 3])
    report = await manager.recluster("photos")
    assert (report.faces, report.people) == (5, 1)
    assert [p.face_count for p in await manager.list_people("photos")] == [5]


async def test_inserts_and_edits_during_a_recluster_are_kept(manager) -> None:
    a = CENTRES[0]
    b = a + (CENTRES[1] - a) / np.linalg.norm(CENTRES[1] - a) * 0.9
    for item, vector in [("a", a), ("b", b), ("m0", (a + b) / 2)]:
        await manager.index_item("photos", item, photo(vector))
    lone = (await manager.index_item("photos", "lone", photo(CENTRES[2])))[0]
    recluster = asyncio.create_task(manager.recluster("photos"))
    await asyncio.sleep(0)  # let it take its snapshot
    late = await manager.index_item("photos", "late", photo(near(CENTRES[2], 5)))
    moved = await manager.move_face("photos", lone.id, None)  # a person's decision during the recluster
    await recluster
    people = {p.id: set(p.face_ids) for p in await manager.people_summaries("photos", min_faces=1)}
    assert {"0:a", "0:b", "0:m0"} in people.values()
    assert people[moved.id] == {lone.id}  # the move survived the recluster
    assert late[0].assignment.person_id in people and "0:late" in people[late[0].assignment.person_id]


async def test_face_calls_without_faces_name_the_fix(tmp_path: Path) -> None:
    manager = open_manager(tmp_path)
    try:
        with pytest.raises(FacesNotEnabled, match="create a new collection with faces"):
            await manager.index_item("plain", "x", photo(CENTRES[0]))
        with pytest.raises(FacesNotEnabled):
            await manager.search_face("plain", "0:x")
        assert not await manager.enabled("plain")
    finally:
        await manager.close()


async def test_items_never_see_face_points(tmp_path: Path) -> None:
    items = EdgeStore(tmp_path, IndexSettings(threshold=0))
    manager = open_manager(tmp_path)
    try:
        model_set = ModelSetRecord("s", (SpaceRecord("image", ModelRecord("m", "1", 128)),))
        await items.create_collection("photos", model_set)
        await manager.enable("photos")
        await items.upsert("photos", [PointToStore("x", {"image": CENTRES[0]})])
        await manager.index_item("photos", "x", photo(near(CENTRES[0], 1), near(CENTRES[1], 2)))
        assert await items.count("photos") == 1
        assert [h.id for h in await items.search("photos", CENTRES[0], 10)] == ["x"]
        assert [c.name for c in await items.list_collections()] == ["photos"]
        # Deleting the collection's faces leaves its items alone, and the other way round.
        await manager.disable("photos")
        assert await items.count("photos") == 1 and not await manager.enabled("photos")
    finally:
        await manager.close()
        await items.close()


async def test_people_survive_a_restart(tmp_path: Path) -> None:
    manager = open_manager(tmp_path)
    await manager.enable("photos")
    for i in range(3):
        await manager.index_item("photos", f"p{i % 2}-{i}", photo(near(CENTRES[i % 2], 50 + i)))
    first = (await manager.list_people("photos"))[0]
    await manager.name_person("photos", first.id, "Grace")
    before = await manager.list_people("photos")
    await manager.close()
    reopened = open_manager(tmp_path)
    try:
        assert await reopened.list_people("photos") == before
        # New people get new ids after the restart.
        stored = await reopened.index_item("photos", "new", photo(near(CENTRES[2], 60)))
        assert stored[0].assignment.person_id not in {p.id for p in before}
    finally:
        await reopened.close()


CHILD = """
import asyncio, sys, numpy as np
sys.path.insert(0, {tests!r})
from face_fixtures import centres, near, open_manager, photo
async def main():
    manager = open_manager(__import__("pathlib").Path({data!r}))
    await manager.enable("photos")
    c = centres(3)
    for i in range(30):
        await manager.index_item("photos", f"item-{{i}}", photo(near(c[i % 3], i)))
    people = await manager.list_people("photos")
    await manager.name_person("photos", people[0].id, "Named")
    print("acked", flush=True)
    await asyncio.sleep(600)
asyncio.run(main())
"""


async def test_faces_and_people_survive_kill_9(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "server"), str(REPO_ROOT)])}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD.format(tests=str(REPO_ROOT / "tests"), data=str(tmp_path))],
        stdout=subprocess.PIPE, text=True, env=env,
    )
    try:
        assert child.stdout.readline().strip() == "acked"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    manager = open_manager(tmp_path)
    try:
        assert await manager._store.count("photos") == 30
        people = await manager.list_people("photos")
        assert sorted(p.face_count for p in people) == [10, 10, 10]
        assert people[0].name == "Named"
    finally:
        await manager.close()


async def test_background_recluster_runs_after_enough_new_faces(tmp_path: Path) -> None:
    from imagesearch.faces.manager import FaceSettings

    manager = open_manager(tmp_path, FaceSettings(min_faces_listed=1, recluster_every=4))
    try:
        await manager.enable("photos")
        a = CENTRES[0]
        b = a + (CENTRES[1] - a) / np.linalg.norm(CENTRES[1] - a) * 0.9
        for item, vector in [("a", a), ("b", b), ("m0", (a + b) / 2)]:
            await manager.index_item("photos", item, photo(vector))
        assert len(await manager.list_people("photos")) == 2
        await manager.index_item("photos", "m1", photo(near((a + b) / 2, 1, spread=0.01)))  # the 4th face
        await asyncio.gather(*manager._background)
        assert [p.face_count for p in await manager.list_people("photos")] == [4]
        assert await manager.delete_items("no-faces-here", ["x"]) == 0
    finally:
        await manager.close()
