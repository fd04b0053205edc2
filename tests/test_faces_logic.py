"""Face scoring, people edits, clustering and query selection: pure logic, no processes."""

from __future__ import annotations

import random

import numpy as np
import pytest
from imagesearch.faces.clustering import chinese_whispers, relabel
from imagesearch.faces.errors import (
    FaceIndexOutOfRange,
    FaceNotFound,
    InvalidFaceQuery,
    PersonNotFound,
)
from imagesearch.faces.graph import same_person_edges
from imagesearch.faces.people import Assignment, Neighbour, People, choose_person
from imagesearch.faces.scoring import (
    SAME_PERSON_DISTANCE,
    SAME_PERSON_SCORE,
    distance_from_cosine,
    distance_to_score,
    score_to_distance,
)
from imagesearch.faces.search import FaceSelector, best_per_item, iou, select_faces
from imagesearch.inference.faces import DetectedFace
from imagesearch.store.faces import FaceMatch, StoredFace, face_id


def test_score_maps_dlibs_threshold_to_one_half() -> None:
    assert distance_to_score(SAME_PERSON_DISTANCE) == pytest.approx(SAME_PERSON_SCORE) == pytest.approx(0.5)
    assert distance_to_score(0.0) == 1.0 and distance_to_score(1.5) == 0.0
    assert distance_to_score(0.4) > SAME_PERSON_SCORE > distance_to_score(0.8)
    assert score_to_distance(distance_to_score(0.37)) == pytest.approx(0.37)


def test_distance_from_cosine_and_norms_is_euclidean() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=128), rng.normal(size=128)
    cosine = a @ b / np.linalg.norm(a) / np.linalg.norm(b)
    assert distance_from_cosine(cosine, np.linalg.norm(a), np.linalg.norm(b)) == pytest.approx(np.linalg.norm(a - b))


def test_a_face_joins_the_nearest_person_within_the_threshold() -> None:
    neighbours = [
        Neighbour("f1", 0.55, "person-2"),
        Neighbour("f2", 0.30, "person-1"),
        Neighbour("f3", 0.10, None),  # not assigned yet: ignored
    ]
    assert choose_person(neighbours) == "person-1"
    assert choose_person([Neighbour("f1", 0.61, "person-1")]) is None
    assert choose_person([]) is None


def people_of(groups: dict[str, list[str]]) -> People:
    people = People()
    for person, faces in groups.items():
        for face in faces:
            people.assign(face, person)
    return people


def test_listing_naming_merging_moving_and_forgetting() -> None:
    people = people_of({"person-1": ["a", "b", "c"], "person-2": ["d", "e"], "person-3": ["f"]})
    assert people.next_number == 4
    assert [p.id for p in people.listed(min_faces=2)] == ["person-1", "person-2"]
    assert [p.face_count for p in people.listed(min_faces=1)] == [3, 2, 1]

    people.rename("person-2", "Rose")
    changed = people.merge("person-1", "person-2")
    assert set(changed) == {"d", "e"} and all(a == Assignment("person-1", True) for a in changed.values())
    assert people.names == {"person-1": "Rose"}  # the kept person had no name: it takes the other's
    with pytest.raises(PersonNotFound):
        people.members("person-2")

    moved = people.move("a", None)
    assert moved["a"] == Assignment("person-4", True) and people.members("person-4") == ["a"]
    people.move("f", "person-1")
    assert "person-3" not in {p.id for p in people.listed(1)}
    with pytest.raises(FaceNotFound):
        people.move("zz", "person-1")
    with pytest.raises(PersonNotFound):
        people.rename("person-9", "x")

    people.forget_faces(people.members("person-1"))
    assert people.names == {} and [p.id for p in people.listed(1)] == ["person-4"]


def test_chinese_whispers_keeps_two_groups_apart_despite_one_spurious_edge() -> None:
    group_a = [f"a{i}" for i in range(6)]
    group_b = [f"b{i}" for i in range(6)]
    edges = [(x, y) for g in (group_a, group_b) for x in g for y in g if x < y] + [("a0", "b0")]
    clusters = chinese_whispers(group_a + group_b + ["lonely"], edges)
    assert [sorted(c) for c in clusters] == [group_a, group_b, ["lonely"]]
    # Insertion order does not matter: the same graph in another order, same clusters.
    shuffled_nodes, shuffled_edges = group_b + ["lonely"] + group_a, [(y, x) for x, y in reversed(edges)]
    random.Random(3).shuffle(shuffled_edges)
    assert chinese_whispers(shuffled_nodes, shuffled_edges) == clusters


def test_relabel_keeps_ids_names_and_pinned_faces() -> None:
    people = people_of({"person-1": ["a", "b"], "person-2": ["c", "d"]})
    people.names["person-2"] = "Obama"
    people.assign("x", "person-1", pinned=True)  # a person put x there by hand
    # The new clustering finds c, d, e together, a and b together, x with c's group, and f alone.
    new = relabel([["c", "d", "e", "x"], ["a", "b"], ["f"]], people)
    assert {f: a.person_id for f, a in new.items()} == {
        "c": "person-2", "d": "person-2", "e": "person-2", "a": "person-1", "b": "person-1",
        "x": "person-1", "f": "person-3",
    }
    assert new["x"].pinned


def test_same_person_edges_link_close_embeddings_only() -> None:
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(2, 128))
    centres *= 1.0 / np.linalg.norm(centres, axis=1, keepdims=True)  # centres ~1.4 apart
    points = np.concatenate([centres[0] + rng.normal(scale=0.01, size=(5, 128)),
                             centres[1] + rng.normal(scale=0.01, size=(5, 128))])
    ids = [f"p{i}" for i in range(10)]
    edges = set(same_person_edges(ids, points))
    assert len(edges) == 2 * 5 * 4  # every ordered pair within each group, none across
    assert all((int(a[1:]) < 5) == (int(b[1:]) < 5) and 0 < w <= 1 for a, b, w in edges)
    assert len(same_person_edges(ids, points, max_neighbours=2)) == 10 * 2


def face(box) -> DetectedFace:
    return DetectedFace(box, 1.0, ((0.0, 0.0),) * 5, np.zeros(128, np.float32))


def test_query_faces_by_index_or_box() -> None:
    faces = [face((0, 0, 100, 100)), face((200, 0, 300, 100))]
    assert [i for i, _ in select_faces(faces, FaceSelector())] == [0, 1]
    assert [i for i, _ in select_faces(faces, FaceSelector(index=1))] == [1]
    assert [i for i, _ in select_faces(faces, FaceSelector(box=(190, 10, 290, 110)))] == [1]
    with pytest.raises(FaceIndexOutOfRange):
        select_faces(faces, FaceSelector(index=2))
    with pytest.raises(InvalidFaceQuery):
        select_faces(faces, FaceSelector(box=(500, 500, 600, 600)))
    with pytest.raises(InvalidFaceQuery):
        select_faces(faces, FaceSelector(index=0, box=(0, 0, 1, 1)))
    assert select_faces([], FaceSelector()) == []
    assert iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(50 / 150)


def match(item: str, index: int, distance: float) -> FaceMatch:
    stored = StoredFace(face_id(item, index), item, index, (0, 0, 1, 1), 1.0, Assignment("person-1"), 1.4)
    return FaceMatch(stored, distance, distance_to_score(distance))


def test_best_face_per_item_above_the_threshold() -> None:
    matches = [match("x", 0, 0.5), match("x", 1, 0.3), match("y", 0, 0.4), match("z", 0, 0.9)]
    result = best_per_item(matches, limit=10, min_score=SAME_PERSON_SCORE)
    assert [(m.item_id, m.face_id) for m in result] == [("x", "1:x"), ("y", "0:y")]
    assert best_per_item(matches, limit=1, min_score=0.0)[0].item_id == "x"


def test_face_ids_stay_within_the_id_limit() -> None:
    assert face_id("photo", 3) == "3:photo"
    long_id = face_id("p" * 256, 63)
    assert len(long_id) <= 256 and long_id == face_id("p" * 256, 63) != face_id("p" * 255 + "q", 63)


def test_the_server_side_never_imports_dlib() -> None:
    # Only Triton's Python stub may load dlib; the server imports these modules.
    import subprocess
    import sys

    code = (
        "import sys, imagesearch.app, imagesearch.faces.manager, imagesearch.inference.faces, "
        "imagesearch.store.faces, imagesearch.models.setup; print('dlib' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
