"""Faces through the v1 API, end to end: the real server with its local Triton (which loads
the face_embedding model), the shared photos of five people read in place."""

from __future__ import annotations

import grpc
import pytest
from imagesearch_client import ImageSearchClient, InsertItem
from imagesearch_client.errors import error_reason

from conftest import corel_path
from faces_data import FACES, TWO_PEOPLE, TWO_PEOPLE_NAMES, single_person_photos

pytestmark = pytest.mark.skipif(not FACES.is_dir(), reason="the shared face photos are not available")
SAME_PERSON = 0.5


@pytest.fixture(scope="module")
def people(client: ImageSearchClient) -> str:
    """Collection "people": the nine single-person photos and the two-person photo."""
    client.create_collection("people", faces_enabled=True, skip_nsfw_scoring=True)
    items = [InsertItem(image=p.path.read_bytes(), id=p.item_id, metadata={"person": p.person})
             for p in single_person_photos()]
    items.append(InsertItem(image=TWO_PEOPLE.read_bytes(), id="two_people", metadata={"person": "both"}))
    outcomes = list(client.import_items("people", items, timeout=600))
    assert all(o.ok for o in outcomes), [o for o in outcomes if not o.ok]
    return "people"


def test_detect_faces_finds_both_people_and_nothing_in_a_landscape(client: ImageSearchClient) -> None:
    faces = client.detect_faces(TWO_PEOPLE.read_bytes())
    assert len(faces) == 2
    assert all(0.5 <= f.confidence <= 1.0 and len(f.landmarks) == 5 for f in faces)
    assert faces[0].box != faces[1].box
    assert client.detect_faces(corel_path(400).read_bytes()) == []  # Corel class 4: dinosaurs


def test_each_photo_finds_its_person_above_the_line_and_nobody_else(client: ImageSearchClient, people: str) -> None:
    photos = single_person_photos()
    for photo in photos:
        hits = client.search_faces(people, photo.path.read_bytes(), top_k=20)
        found = {h.id for h in hits}
        expected = {p.item_id for p in photos if p.person == photo.person}
        if photo.person in TWO_PEOPLE_NAMES:
            expected.add("two_people")
        assert found == expected, (photo.item_id, sorted(found))
        assert all(h.score >= SAME_PERSON and h.face_box is not None for h in hits)
        assert [h.rank for h in hits] == list(range(1, len(hits) + 1))


def test_the_two_person_photo_returns_each_of_its_people(client: ImageSearchClient, people: str) -> None:
    hits = client.search_faces(people, TWO_PEOPLE.read_bytes(), top_k=20)
    by_face: dict[int, set[str]] = {}
    for hit in hits:
        by_face.setdefault(hit.query_face_index, set()).add(hit.metadata["person"])
    assert sorted(by_face) == [0, 1]
    assert sorted(frozenset(p - {"both"}) for p in by_face.values()) == sorted(
        frozenset({name}) for name in TWO_PEOPLE_NAMES)
    only_second = client.search_faces(people, TWO_PEOPLE.read_bytes(), face_index=1, top_k=20)
    assert {h.query_face_index for h in only_second} == {1}


def test_bad_face_queries(client: ImageSearchClient, people: str) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        client.search_faces(people, TWO_PEOPLE.read_bytes(), face_index=5)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert client.search_faces(people, corel_path(400).read_bytes()) == []  # no face: no hits, no error
    client.create_collection("no-faces", skip_nsfw_scoring=True)
    with pytest.raises(grpc.RpcError) as caught:
        client.search_faces("no-faces", TWO_PEOPLE.read_bytes())
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error_reason(caught.value) == "FACES_NOT_ENABLED"
    assert "faces_enabled" in caught.value.details()


def test_items_say_which_features_they_lack_and_deleted_items_leave_no_face(
    client: ImageSearchClient, people: str
) -> None:
    assert client.get_collection(people).faces_enabled
    stored = client.get_item(people, "two_people")
    assert "faces" not in stored.missing_features and "nsfw_score" in stored.missing_features
    obama = [p for p in single_person_photos() if p.person == "obama"]
    client.delete_item(people, obama[0].item_id)
    hits = client.search_faces(people, obama[1].path.read_bytes(), top_k=20)
    assert obama[0].item_id not in {h.id for h in hits}
    assert obama[1].item_id in {h.id for h in hits}
