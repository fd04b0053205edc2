"""People RPCs' rules, checked in milliseconds: the real handlers, the real embedded stores
(items and faces) and the real FaceManager, with synthetic face descriptors standing in for
the face model's (tests/face_fixtures.py; the real model runs in test_api_people_e2e.py)."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import field_mask_pb2
from imagesearch_client import names
from imagesearch_client.v1 import imagesearch_pb2 as pb
from imagesearch_client.v1 import imagesearch_pb2_grpc as pb_grpc

from api_fakes import start_fake_server
from conftest import corel_path
from face_fixtures import DetectionTable, centres, near, open_manager, photo
from imagesearch.api.context import FACES_NEED_EMBEDDED_STORE, ServiceContext, ServiceLimits
from imagesearch.auth.interceptor import request_collection
from imagesearch.auth.scopes import METHOD_ROLES, Role
from imagesearch.faces.errors import FaceNotFound, FacesNotEnabled
from imagesearch.faces.manager import FaceSettings
from imagesearch.store.faces import face_id
from test_api_rules import reason

pytestmark = pytest.mark.asyncio(loop_scope="session")
CENTRES = centres(3, seed=7)
A, B, C = CENTRES
# Photo number -> the people in it (two faces in photo 7). A: 4 faces, B: 3, C: 1.
ALBUM = {1: (A,), 2: (A,), 3: (A,), 4: (B,), 5: (B,), 6: (C,), 7: (A, B)}


@pytest.fixture(scope="module")
async def served(tmp_path_factory):
    data = tmp_path_factory.mktemp("people")
    table = DetectionTable()
    for number, people in ALBUM.items():
        table.show(corel_path(number).read_bytes(),
                   photo(*(near(c, seed=number * 10 + i) for i, c in enumerate(people))))
    manager = open_manager(data / "faces", FaceSettings(min_faces_listed=2, recluster_every=0), table)
    fake = await start_fake_server(data / "items", faces=manager)
    channel = grpc.aio.insecure_channel(fake.address)
    yield pb_grpc.ImageSearchServiceStub(channel), manager
    await channel.close()
    await fake.stop()
    await manager.close()


async def album(stub, collection: str) -> dict[str, pb.Person]:
    """A collection with faces holding ALBUM; its people by the photo numbers of their faces."""
    await stub.CreateCollection(pb.CreateCollectionRequest(
        collection_id=collection, collection=pb.Collection(faces_enabled=True, skip_nsfw_scoring=True)))
    for number in ALBUM:
        await stub.CreateItem(pb.CreateItemRequest(
            parent=f"collections/{collection}", item_id=f"photo {number}", duplicate_policy=pb.DUPLICATE_POLICY_IGNORE,
            image=pb.Image(content=corel_path(number).read_bytes())))
    listed = await stub.ListPeople(pb.ListPeopleRequest(parent=f"collections/{collection}", min_face_count=1))
    return {who: p for p in listed.people for who in "ABC" if p.face_count == {"A": 4, "B": 3, "C": 1}[who]}


async def failure(call) -> tuple[grpc.StatusCode, str, dict]:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    found, metadata = reason(caught.value)
    return caught.value.code(), found, {**metadata, "message": caught.value.details()}


async def test_list_people_pages_most_faces_first_with_a_representative_face(served) -> None:
    stub, _ = served
    people = await album(stub, "list")
    assert sorted(people) == ["A", "B", "C"]
    default = await stub.ListPeople(pb.ListPeopleRequest(parent="collections/list"))
    assert [p.face_count for p in default.people] == [4, 3]  # C's one face is below faces_min_listed (2)
    a = default.people[0]
    assert a.name.startswith("collections/list/people/") and a.display_name == ""
    face = names.parse_face_name(a.representative_face.name)
    assert a.representative_face.item == names.item_name("list", face.item_id)
    assert face.item_id in {f"photo {n}" for n in (1, 2, 3, 7)} and a.representative_face.person == a.name
    assert a.representative_face.box.right > a.representative_face.box.left
    seen, token = [], ""
    while True:
        page = await stub.ListPeople(pb.ListPeopleRequest(parent="collections/list", page_size=1, page_token=token,
                                                          min_face_count=1))
        seen += [p.name for p in page.people]
        if not (token := page.next_page_token):
            break
        other = pb.ListPeopleRequest(parent="collections/list", page_token=token)  # another min_face_count
        assert (await failure(stub.ListPeople(other)))[1] == "PAGE_TOKEN_INVALID"
    assert seen == [people[w].name for w in "ABC"]
    code, why, meta = await failure(stub.ListPeople(pb.ListPeopleRequest(parent="collections/list", min_face_count=0)))
    assert (code, why, meta["field"]) == (grpc.StatusCode.INVALID_ARGUMENT, "FIELD_INVALID", "min_face_count")


async def test_get_and_name_a_person_and_bad_names(served) -> None:
    stub, _ = served
    people = await album(stub, "naming")
    a = people["A"].name
    named = await stub.UpdatePerson(pb.UpdatePersonRequest(
        person=pb.Person(name=a, display_name=" Grandma "), update_mask=field_mask_pb2.FieldMask(paths=["display_name"])))
    assert named.display_name == "Grandma" and named.face_count == 4
    assert (await stub.GetPerson(pb.GetPersonRequest(name=a))).display_name == "Grandma"
    for bad in ("x" * 101, "   ", "two\nlines"):
        code, why, meta = await failure(stub.UpdatePerson(pb.UpdatePersonRequest(
            person=pb.Person(name=a, display_name=bad))))
        assert (code, why, meta["field"]) == (grpc.StatusCode.INVALID_ARGUMENT, "FIELD_INVALID", "person.display_name")
    code, why, meta = await failure(stub.UpdatePerson(pb.UpdatePersonRequest(
        person=pb.Person(name=a), update_mask=field_mask_pb2.FieldMask(paths=["face_count"]))))
    assert (code, meta["field"]) == (grpc.StatusCode.INVALID_ARGUMENT, "update_mask")
    unnamed = await stub.UpdatePerson(pb.UpdatePersonRequest(person=pb.Person(name=a, display_name="")))
    assert unnamed.display_name == ""
    code, why, meta = await failure(stub.GetPerson(pb.GetPersonRequest(name="collections/naming/people/person-99")))
    assert (code, why, meta["person"]) == (grpc.StatusCode.NOT_FOUND, "PERSON_NOT_FOUND", "person-99")
    assert "ListPeople" in meta["message"]
    code, why, _ = await failure(stub.GetPerson(pb.GetPersonRequest(name="collections/naming/person/x")))
    assert (code, why) == (grpc.StatusCode.INVALID_ARGUMENT, "RESOURCE_NAME_INVALID")


async def test_merge_people(served) -> None:
    stub, _ = served
    people = await album(stub, "merging")
    b, c = people["B"].name, people["C"].name
    await stub.UpdatePerson(pb.UpdatePersonRequest(person=pb.Person(name=c, display_name="Carol")))
    merged = await stub.MergePeople(pb.MergePeopleRequest(name=b, people=[c, c, b]))
    assert merged.name == b and merged.face_count == 4 and merged.display_name == "Carol"  # B had no name
    assert (await failure(stub.GetPerson(pb.GetPersonRequest(name=c))))[1] == "PERSON_NOT_FOUND"
    code, why, meta = await failure(stub.MergePeople(pb.MergePeopleRequest(
        name=b, people=["collections/other/people/person-1"])))
    assert (code, meta["field"]) == (grpc.StatusCode.INVALID_ARGUMENT, "people[0]")
    assert (await failure(stub.MergePeople(pb.MergePeopleRequest(name=b))))[2]["field"] == "people"
    code, why, _ = await failure(stub.MergePeople(pb.MergePeopleRequest(name=b, people=[c])))
    assert (code, why) == (grpc.StatusCode.NOT_FOUND, "PERSON_NOT_FOUND")
    assert (await stub.GetPerson(pb.GetPersonRequest(name=b))).face_count == 4  # nothing moved


async def test_move_a_face_to_another_person_or_its_own(served) -> None:
    stub, _ = served
    people = await album(stub, "moving")
    a, b = people["A"].name, people["B"].name
    face = names.face_name("moving", "photo 3", 0)
    moved = await stub.UpdateFace(pb.UpdateFaceRequest(
        face=pb.Face(name=face, person=b), update_mask=field_mask_pb2.FieldMask(paths=["person"])))
    assert (moved.name, moved.person, moved.pinned) == (face, b, True)
    assert moved.item == names.item_name("moving", "photo 3")
    assert (await stub.GetPerson(pb.GetPersonRequest(name=a))).face_count == 3
    assert (await stub.GetPerson(pb.GetPersonRequest(name=b))).face_count == 4
    alone = await stub.UpdateFace(pb.UpdateFaceRequest(face=pb.Face(name=face)))  # no person: one of its own
    assert alone.person not in (a, b) and (await stub.GetPerson(pb.GetPersonRequest(name=alone.person))).face_count == 1
    report = await stub.ReclusterPeople(pb.ReclusterPeopleRequest(parent="collections/moving"))
    assert report.face_count == 8 and report.person_count == 4
    again = await stub.GetPerson(pb.GetPersonRequest(name=alone.person))
    assert again.face_count == 1 and again.representative_face.pinned  # a recluster keeps a hand-placed face
    missing = names.face_name("moving", "photo 1", 5)
    code, why, meta = await failure(stub.UpdateFace(pb.UpdateFaceRequest(face=pb.Face(name=missing, person=a))))
    assert (code, why, meta["face"]) == (grpc.StatusCode.NOT_FOUND, "FACE_NOT_FOUND", missing)
    code, why, meta = await failure(stub.UpdateFace(pb.UpdateFaceRequest(
        face=pb.Face(name=face, person="collections/other/people/person-1"))))
    assert (code, meta["field"]) == (grpc.StatusCode.INVALID_ARGUMENT, "face.person")
    code, why, meta = await failure(stub.UpdateFace(pb.UpdateFaceRequest(face=pb.Face(name=face + "x"))))
    assert (code, why, meta["field"]) == (grpc.StatusCode.INVALID_ARGUMENT, "RESOURCE_NAME_INVALID", "face.name")


async def test_search_by_person(served) -> None:
    stub, _ = served
    people = await album(stub, "finding")
    a = people["A"].name
    hits = [h async for h in stub.SearchItems(pb.SearchItemsRequest(parent="collections/finding", person=a, top_k=10))]
    assert sorted(h.item.item_id for h in hits) == ["photo 1", "photo 2", "photo 3", "photo 7"]
    assert [h.rank for h in hits] == [1, 2, 3, 4] and all(0.5 < h.score <= 1 for h in hits)
    assert all(h.face.person == a and names.parse_face_name(h.face.face).item_id == h.item.item_id for h in hits)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    by_photo = [h async for h in stub.SearchItems(pb.SearchItemsRequest(
        parent="collections/finding", face=pb.FaceQuery(image=pb.Image(content=corel_path(1).read_bytes()))))]
    assert {h.item.item_id for h in by_photo} == {h.item.item_id for h in hits}  # face hits name face and person too
    assert all(h.face.person == a and names.parse_face_name(h.face.face).item_id == h.item.item_id for h in by_photo)
    two = [h async for h in stub.SearchItems(pb.SearchItemsRequest(parent="collections/finding", person=a, top_k=2))]
    assert [h.item.item_id for h in two] == [h.item.item_id for h in hits[:2]]
    missing = pb.SearchItemsRequest(parent="collections/finding", person="collections/finding/people/person-77")
    assert (await failure(_drain(stub.SearchItems(missing))))[:2] == (grpc.StatusCode.NOT_FOUND, "PERSON_NOT_FOUND")
    elsewhere = pb.SearchItemsRequest(parent="collections/finding", person="collections/list/people/person-1")
    assert (await failure(_drain(stub.SearchItems(elsewhere))))[2]["field"] == "person"


async def test_deleting_a_person_deletes_its_face_vectors_and_keeps_the_items(served) -> None:
    stub, manager = served
    people = await album(stub, "forgetting")
    b = people["B"].name
    await stub.DeletePerson(pb.DeletePersonRequest(name=b))
    assert (await failure(stub.GetPerson(pb.GetPersonRequest(name=b))))[1] == "PERSON_NOT_FOUND"
    for item, index in (("photo 4", 0), ("photo 5", 0), ("photo 7", 1)):
        with pytest.raises(FaceNotFound):  # the vector itself is gone from the face store
            await manager.face("forgetting", face_id(item, index))
        assert (await stub.GetItem(pb.GetItemRequest(name=names.item_name("forgetting", item)))).item_id == item
    await manager.face("forgetting", face_id("photo 7", 0))  # A's face in the same photo stays
    left = await stub.ListPeople(pb.ListPeopleRequest(parent="collections/forgetting", min_face_count=1))
    assert sorted(p.face_count for p in left.people) == [1, 4]
    assert (await failure(stub.DeletePerson(pb.DeletePersonRequest(name=b))))[1] == "PERSON_NOT_FOUND"


async def test_a_collection_without_faces_names_the_fix(served) -> None:
    stub, _ = served
    await stub.CreateCollection(pb.CreateCollectionRequest(collection_id="plain", collection=pb.Collection()))
    person, face = "collections/plain/people/person-1", names.face_name("plain", "x", 0)
    calls = [
        stub.ListPeople(pb.ListPeopleRequest(parent="collections/plain")),
        stub.GetPerson(pb.GetPersonRequest(name=person)),
        stub.UpdatePerson(pb.UpdatePersonRequest(person=pb.Person(name=person, display_name="x"))),
        stub.MergePeople(pb.MergePeopleRequest(name=person, people=["collections/plain/people/person-2"])),
        stub.DeletePerson(pb.DeletePersonRequest(name=person)),
        stub.UpdateFace(pb.UpdateFaceRequest(face=pb.Face(name=face))),
        stub.ReclusterPeople(pb.ReclusterPeopleRequest(parent="collections/plain")),
        _drain(stub.SearchItems(pb.SearchItemsRequest(parent="collections/plain", person=person))),
    ]
    for call in calls:
        code, why, meta = await failure(call)
        assert (code, why) == (grpc.StatusCode.FAILED_PRECONDITION, "FACES_NOT_ENABLED")
        assert "faces_enabled" in meta["message"]
    code, why, _ = await failure(stub.ListPeople(pb.ListPeopleRequest(parent="collections/none")))
    assert (code, why) == (grpc.StatusCode.NOT_FOUND, "COLLECTION_NOT_FOUND")


async def _drain(stream) -> list:
    return [x async for x in stream]


async def test_every_rpc_has_a_role_and_people_rpcs_name_their_collection() -> None:
    service = pb.DESCRIPTOR.services_by_name["ImageSearchService"]
    assert set(service.methods_by_name) <= set(METHOD_ROLES), set(service.methods_by_name) - set(METHOD_ROLES)
    assert {m: METHOD_ROLES[m] for m in ("ListPeople", "GetPerson")} == {"ListPeople": Role.READ, "GetPerson": Role.READ}
    for method in ("UpdatePerson", "MergePeople", "DeletePerson", "UpdateFace", "ReclusterPeople"):
        assert METHOD_ROLES[method] is Role.WRITE
    person, face = "collections/c1/people/person-1", names.face_name("c1", "a/b", 2)
    requests = [
        pb.ListPeopleRequest(parent="collections/c1"), pb.GetPersonRequest(name=person),
        pb.UpdatePersonRequest(person=pb.Person(name=person)), pb.MergePeopleRequest(name=person),
        pb.DeletePersonRequest(name=person), pb.UpdateFaceRequest(face=pb.Face(name=face)),
        pb.ReclusterPeopleRequest(parent="collections/c1"),
        # Before, an UpdateItem named no collection, so write on any collection allowed it.
        pb.UpdateItemRequest(item=pb.Item(name=names.item_name("c1", "x"))),
    ]
    assert [request_collection(r) for r in requests] == ["c1"] * len(requests)


async def test_face_and_person_names_round_trip() -> None:
    face = names.face_name("c", "shoes/red 1", 3)
    assert face == "collections/c/items/shoes%2Fred%201/faces/3"
    assert names.parse_face_name(face) == names.FaceName("c", "shoes/red 1", 3)
    assert names.parse_person_name(names.person_name("c", "person-4")) == names.PersonName("c", "person-4")
    for bad in ("collections/c/items/x/faces/01", "collections/c/items/x/faces/-1", "collections/c/faces/1",
                "collections/c/items/x/faces/\u00b2"):
        with pytest.raises(names.InvalidName):
            names.parse_face_name(bad)
    with pytest.raises(names.InvalidName):
        names.parse_person_name("collections/c/people/")


async def test_a_server_on_a_remote_qdrant_says_faces_need_the_embedded_store() -> None:
    # No remote Qdrant is needed to check the answer: app.py passes this reason whenever
    # qdrant_url is set, and the handlers only read it (faces_of runs before any store call).
    ctx = ServiceContext(store=None, model_sets={}, default_model_set="offline", limits=ServiceLimits(40_000_000, 4), fetcher=None,
                         nsfw=None, faces=None, faces_off=FACES_NEED_EMBEDDED_STORE)
    with pytest.raises(FacesNotEnabled, match="embedded store.*--qdrant-url"):
        await ctx.faces_of("any")


async def test_a_write_key_for_one_collection_cannot_edit_another_s_people(tmp_path) -> None:
    """The real interceptor over the fake server: update requests name their collection
    inside the resource (person.name, face.name, item.name), and that is the one checked."""
    from imagesearch.auth.keys import KeyFile, KeyStore
    from imagesearch.auth.scopes import Grant

    key = KeyFile(tmp_path / "api_keys.json").create("b-writer", (Grant.parse("write:b"),))
    guarded = await start_fake_server(tmp_path / "data", keys=KeyStore(tmp_path / "api_keys.json"))
    channel = grpc.aio.insecure_channel(guarded.address)
    stub, auth = pb_grpc.ImageSearchServiceStub(channel), [("authorization", f"Bearer {key}")]
    try:
        for call in (
            stub.UpdatePerson(pb.UpdatePersonRequest(person=pb.Person(name="collections/a/people/person-1")),
                              metadata=auth),
            stub.UpdateFace(pb.UpdateFaceRequest(face=pb.Face(name=names.face_name("a", "x", 0))), metadata=auth),
            stub.UpdateItem(pb.UpdateItemRequest(item=pb.Item(name=names.item_name("a", "x"))), metadata=auth),
        ):
            code, why, _ = await failure(call)
            assert (code, why) == (grpc.StatusCode.PERMISSION_DENIED, "PERMISSION_MISSING")
        # On its own collection the key gets past the interceptor (to the handler's own answer).
        code, why, _ = await failure(stub.UpdatePerson(
            pb.UpdatePersonRequest(person=pb.Person(name="collections/b/people/person-1")), metadata=auth))
        assert why != "PERMISSION_MISSING"
    finally:
        await channel.close()
        await guarded.stop()


async def test_search_by_a_stored_face_or_by_a_box(served) -> None:
    stub, _ = served
    people = await album(stub, "stored")
    hits = [h async for h in stub.SearchItems(pb.SearchItemsRequest(parent="collections/stored", person=people["B"].name))]
    face = next(h.face.face for h in hits if h.item.item_id == "photo 4")
    by_face = [h async for h in stub.SearchItems(pb.SearchItemsRequest(
        parent="collections/stored", face=pb.FaceQuery(face=face)))]
    # The face's person is in photos 4, 5 and 7 (B); its own item comes first, at score 1.
    assert sorted(h.item.item_id for h in by_face) == ["photo 4", "photo 5", "photo 7"]
    assert by_face[0].item.item_id == "photo 4" and by_face[0].score == pytest.approx(1.0, abs=1e-3)
    # Photo 7 shows A and B: its box picks the face, as face_index does.
    seven = corel_path(7).read_bytes()
    b_in_seven = next(h for h in by_face if h.item.item_id == "photo 7").face.box
    by_box = [h async for h in stub.SearchItems(pb.SearchItemsRequest(
        parent="collections/stored", face=pb.FaceQuery(image=pb.Image(content=seven), box=b_in_seven)))]
    assert sorted(h.item.item_id for h in by_box) == ["photo 4", "photo 5", "photo 7"]
    unknown = pb.SearchItemsRequest(parent="collections/stored", face=pb.FaceQuery(
        face="collections/stored/items/photo%204/faces/9"))
    assert (await failure(_drain(stub.SearchItems(unknown))))[:2] == (grpc.StatusCode.NOT_FOUND, "FACE_NOT_FOUND")
    both = pb.SearchItemsRequest(parent="collections/stored", face=pb.FaceQuery(face=face, image=pb.Image(content=seven)))
    assert (await failure(_drain(stub.SearchItems(both))))[2]["field"] == "face.face"
    elsewhere = pb.SearchItemsRequest(parent="collections/stored", face=pb.FaceQuery(
        face="collections/other/items/x/faces/0"))
    assert (await failure(_drain(stub.SearchItems(elsewhere))))[2]["field"] == "face.face"
