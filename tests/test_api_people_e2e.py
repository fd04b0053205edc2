"""People through the v1 API, end to end: the session's real server (its local Triton runs
the face model) on the shared photos of five people, read in place; and the README's People
block (CLI and grpcurl) against the same server."""

from __future__ import annotations

import grpc
import pytest
from imagesearch_client import ImageSearchClient, InsertItem
from imagesearch_client.errors import error_reason

from conftest import REPO_ROOT
from faces_data import FACES, TWO_PEOPLE, TWO_PEOPLE_NAMES, single_person_photos
from test_readme import readme_block, run_bash

pytestmark = pytest.mark.skipif(not FACES.is_dir(), reason="the shared face photos are not available")
COLLECTION = "people-rpc"
FIVE = {"alex_lacamoire", "biden", "kit_harington", "obama", "rose_leslie"}


@pytest.fixture(scope="module")
def album(client: ImageSearchClient) -> dict[str, str]:
    """The nine single-person photos and the two-person photo; each person's ID by the
    folder (the real name) of the photos its faces come from."""
    client.create_collection(COLLECTION, faces_enabled=True, skip_nsfw_scoring=True)
    items = [InsertItem(image=p.path.read_bytes(), id=p.item_id) for p in single_person_photos()]
    items.append(InsertItem(image=TWO_PEOPLE.read_bytes(), id="two_people"))
    outcomes = list(client.import_items(COLLECTION, items, timeout=600))
    assert all(o.ok for o in outcomes), [o for o in outcomes if not o.ok]
    people = {}
    for person in client.list_people(COLLECTION, min_face_count=1):
        folders = {h.id.split("/")[0] for h in client.search_person(COLLECTION, person.id, top_k=20)} - {"two_people"}
        assert len(folders) == 1, (person, folders)
        people[folders.pop()] = person.id
    return people


def test_the_five_people_are_listed_with_their_faces(client: ImageSearchClient, album: dict[str, str]) -> None:
    assert set(album) == FIVE
    listed = {p.id: p for p in client.list_people(COLLECTION, min_face_count=1)}
    photos = {p: sum(1 for x in single_person_photos() if x.person == p) for p in FIVE}
    for folder, person_id in album.items():
        expected = photos[folder] + (folder in TWO_PEOPLE_NAMES)  # obama and biden are in two_people too
        assert listed[person_id].face_count == expected, folder
        assert listed[person_id].representative.person_id == person_id
    default = [p.id for p in client.list_people(COLLECTION)]  # faces_min_listed = 2: alex (one photo) is left out
    assert album["alex_lacamoire"] not in default and len(default) == 4


def test_search_by_person_finds_every_photo_of_that_person(client: ImageSearchClient, album: dict[str, str]) -> None:
    hits = client.search_person(COLLECTION, album["obama"], top_k=20)
    assert {h.id for h in hits} == {"obama/obama.jpg", "obama/obama2.jpg", "two_people"}
    assert all(h.score > 0.5 and h.person_id == album["obama"] and h.face_box for h in hits)
    assert [h.rank for h in hits] == [1, 2, 3] and [h.score for h in hits] == sorted((h.score for h in hits),
                                                                                     reverse=True)


def test_name_merge_and_move_a_face(client: ImageSearchClient, album: dict[str, str]) -> None:
    rose, kit = album["rose_leslie"], album["kit_harington"]
    assert client.name_person(COLLECTION, rose, "Rose Leslie").display_name == "Rose Leslie"
    assert client.get_person(COLLECTION, rose).display_name == "Rose Leslie"
    merged = client.merge_people(COLLECTION, rose, [kit])  # a wrong merge, undone below
    assert merged.face_count == 4 and merged.display_name == "Rose Leslie"
    with pytest.raises(grpc.RpcError) as caught:
        client.get_person(COLLECTION, kit)
    assert (caught.value.code(), error_reason(caught.value)) == (grpc.StatusCode.NOT_FOUND, "PERSON_NOT_FOUND")
    first = client.move_face(COLLECTION, "kit_harington/john1.jpeg", 0, None)
    assert first.person_id != rose and first.pinned
    second = client.move_face(COLLECTION, "kit_harington/john2.jpeg", 0, first.person_id)
    assert second.person_id == first.person_id
    assert client.get_person(COLLECTION, rose).face_count == 2
    report = client.recluster_people(COLLECTION)
    assert report.faces == 11
    kit_hits = client.search_person(COLLECTION, first.person_id, top_k=20)
    assert {h.id for h in kit_hits} == {"kit_harington/john1.jpeg", "kit_harington/john2.jpeg"}


def test_deleting_a_person_deletes_its_face_vectors(client: ImageSearchClient, album: dict[str, str]) -> None:
    biden = album["biden"]
    obama_face = next(h.face_index for h in client.search_person(COLLECTION, album["obama"]) if h.id == "two_people")
    client.delete_person(COLLECTION, biden)
    with pytest.raises(grpc.RpcError) as caught:
        client.get_person(COLLECTION, biden)
    assert error_reason(caught.value) == "PERSON_NOT_FOUND"
    photo = next(p for p in single_person_photos() if p.person == "biden")
    # A face search scans the stored face vectors: at min_score 0 every stored face is a
    # candidate, and none of Biden's is left (his items are).
    hits = client.search_faces(COLLECTION, photo.path.read_bytes(), min_score=0.0, top_k=20)
    assert hits and not any(h.id.startswith("biden/") for h in hits)
    pair = [h for h in hits if h.id == "two_people"]
    assert [h.face_index for h in pair] == [obama_face]  # only Obama's face of the pair is left
    assert client.get_item(COLLECTION, photo.item_id).id == photo.item_id


def test_people_errors(client: ImageSearchClient, album: dict[str, str]) -> None:
    def refused(call) -> tuple[grpc.StatusCode, str | None, str]:
        with pytest.raises(grpc.RpcError) as caught:
            call()
        return caught.value.code(), error_reason(caught.value), caught.value.details()

    assert refused(lambda: client.get_person(COLLECTION, "person-999"))[:2] == (
        grpc.StatusCode.NOT_FOUND, "PERSON_NOT_FOUND")
    assert refused(lambda: client.move_face(COLLECTION, "obama/obama.jpg", 3, None))[:2] == (
        grpc.StatusCode.NOT_FOUND, "FACE_NOT_FOUND")
    assert refused(lambda: client.name_person(COLLECTION, album["obama"], "x" * 101))[:2] == (
        grpc.StatusCode.INVALID_ARGUMENT, "FIELD_INVALID")
    client.create_collection("people-none", skip_nsfw_scoring=True)
    code, why, message = refused(lambda: list(client.list_people("people-none")))
    assert (code, why) == (grpc.StatusCode.FAILED_PRECONDITION, "FACES_NOT_ENABLED") and "faces_enabled" in message


def test_readme_people_block(server, client: ImageSearchClient) -> None:
    block = readme_block("People").replace("./album", str(FACES))
    out = run_bash(block, server, REPO_ROOT)
    assert out.returncode == 0, out.stderr
    assert "person-1\t" in out.stdout and '"display_name": "Barack Obama"' in out.stdout
    assert "deleted person-3 and its face vectors" in out.stdout
    assert client.get_person("friends", "person-1").display_name == "Barack Obama"
    # The block's UpdateFace left face 1 of two_people.jpg with person-1 (and face 0 is a person of its own).
    face = [h for h in client.search_person("friends", "person-1", top_k=20) if h.id == "two_people.jpg"]
    assert [h.face_index for h in face] == [1]
