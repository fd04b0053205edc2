"""Every ErrorReason of protos/imagesearch/v1/error_reason.proto, caused one by one.

Each case makes a real request to the real handlers (fake encoders and fetcher, see
tests/api_fakes.py) and checks the status code and ErrorInfo reason; a last test checks
that the cases cover the enum, so a reason added to the proto needs a case here.

Fakes stand in where the failure cannot be caused cheaply for real: an unreachable or
slow URL (tests/test_url_ingest.py checks the real fetcher end to end), a stopped Triton
(tests/test_operations.py kills the real one), and a bug (INTERNAL).
"""

from __future__ import annotations

import io
import struct
import zlib

import grpc
import pytest
from imagesearch_client.v1 import imagesearch_pb2 as pb
from imagesearch_client.v1 import imagesearch_pb2_grpc as pb_grpc
from imagesearch_client.v1.error_reason_pb2 import ErrorReason
from PIL import Image

from api_fakes import FakeServer, start_fake_server
from conftest import corel_path
from imagesearch.fetch.fetcher import FetchFailed, FetchTimeout
from imagesearch.fetch.policy import FetchRefused
from imagesearch.api import collections
from imagesearch.models import model_sets
from imagesearch.models.model_sets import ModelSetSpec, SpaceSpec
from test_api_rules import reason

pytestmark = pytest.mark.asyncio(loop_scope="session")

IMAGE_ONLY = ModelSetSpec(
    name="image-only", image_model="image_embedding", spaces=(SpaceSpec("image", "EMBEDDING", "image"),),
    image_query_space="image", text_query_space=None, setup_hint="(a test's set)",
)
P = "collections/r"
CASES: dict[str, tuple[grpc.StatusCode, object]] = {}


def case(name: str, code: grpc.StatusCode):
    def register(trigger):
        CASES[name] = (code, trigger)
        return trigger
    return register


def image(**kwargs) -> pb.Image:
    return pb.Image(**kwargs)


def png_declaring(width: int, height: int) -> bytes:
    """A small real PNG whose header is rewritten to declare width x height pixels: the
    header of a decompression bomb."""
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (9, 9, 9)).save(buffer, "PNG")
    data = bytearray(buffer.getvalue())
    chunk = b"IHDR" + struct.pack(">II", width, height) + bytes(data[24:29])
    data[12:29] = chunk
    data[29:33] = struct.pack(">I", zlib.crc32(chunk))
    return bytes(data)


def ppm() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (1, 2, 3)).save(buffer, "PPM")
    return buffer.getvalue()


def create(content: bytes, **fields):
    return lambda s, f: s.CreateItem(pb.CreateItemRequest(parent=P, image=image(content=content), **fields))


def search(**fields):
    async def run(s, f):
        return [hit async for hit in s.SearchItems(pb.SearchItemsRequest(parent=P, **fields))]
    return run


case("FIELD_INVALID", grpc.StatusCode.INVALID_ARGUMENT)(search(text="x", top_k=0))
case("RESOURCE_NAME_INVALID", grpc.StatusCode.INVALID_ARGUMENT)(
    lambda s, f: s.GetCollection(pb.GetCollectionRequest(name="collection/r")))
case("IMAGE_EMPTY", grpc.StatusCode.INVALID_ARGUMENT)(create(b""))
case("IMAGE_UNDECODABLE", grpc.StatusCode.INVALID_ARGUMENT)(create(corel_path(7).read_bytes()[:300]))
case("IMAGE_FORMAT_UNSUPPORTED", grpc.StatusCode.INVALID_ARGUMENT)(create(ppm()))
case("IMAGE_TOO_LARGE", grpc.StatusCode.INVALID_ARGUMENT)(create(png_declaring(60_000, 60_000)))
case("PAGE_TOKEN_INVALID", grpc.StatusCode.INVALID_ARGUMENT)(
    lambda s, f: s.ListItems(pb.ListItemsRequest(parent=P, page_token="bm90IGEgdG9rZW4")))
case("COLLECTION_NOT_FOUND", grpc.StatusCode.NOT_FOUND)(
    lambda s, f: s.GetCollection(pb.GetCollectionRequest(name="collections/none")))
case("ITEM_NOT_FOUND", grpc.StatusCode.NOT_FOUND)(lambda s, f: s.GetItem(pb.GetItemRequest(name=f"{P}/items/none")))
case("COLLECTION_ALREADY_EXISTS", grpc.StatusCode.ALREADY_EXISTS)(
    lambda s, f: s.CreateCollection(pb.CreateCollectionRequest(collection_id="r", collection=pb.Collection())))
case("DUPLICATE_IMAGE", grpc.StatusCode.ALREADY_EXISTS)(
    create(corel_path(1).read_bytes(), item_id="copy", duplicate_policy=pb.DUPLICATE_POLICY_REJECT))
case("MODEL_SET_MISMATCH", grpc.StatusCode.FAILED_PRECONDITION)(search(text="x", model_set="clip"))
case("MODEL_SET_NOT_SERVED", grpc.StatusCode.FAILED_PRECONDITION)(
    lambda s, f: s.CreateCollection(pb.CreateCollectionRequest(collection_id="c", collection=pb.Collection(
        model_set="clip"))))


@case("TEXT_SEARCH_UNSUPPORTED", grpc.StatusCode.FAILED_PRECONDITION)
async def text_on_image_only(s, f):
    return [h async for h in s.SearchItems(pb.SearchItemsRequest(parent="collections/image-only", text="x"))]


case("NSFW_SCORE_TOO_HIGH", grpc.StatusCode.FAILED_PRECONDITION)(
    lambda s, f: s.CreateItem(pb.CreateItemRequest(parent="collections/strict", image=image(content=red()))))


case("OCR_NOT_ENABLED", grpc.StatusCode.FAILED_PRECONDITION)(search(image_text=pb.ImageTextQuery(text="RE16")))
case("FACES_NOT_ENABLED", grpc.StatusCode.FAILED_PRECONDITION)(
    search(face=pb.FaceQuery(image=pb.Image(content=corel_path(2).read_bytes()))))


@case("NSFW_SCORES_MISSING", grpc.StatusCode.FAILED_PRECONDITION)
async def cap_without_scores(s, f):
    request = pb.SearchItemsRequest(parent="collections/unscored", text="x", max_nsfw_score=0.5)
    return [h async for h in s.SearchItems(request)]


def fetch_failure(name: str, code: grpc.StatusCode, error: Exception) -> None:
    url = f"http://example.test/{name}.jpg"

    async def trigger(s, f: FakeServer):
        f.fetcher.responses[url] = error
        return await s.ModerateImage(pb.ModerateImageRequest(image=image(uri=url)))
    case(name, code)(trigger)


fetch_failure("URL_FORBIDDEN", grpc.StatusCode.PERMISSION_DENIED, FetchRefused("fake: a private address"))
fetch_failure("URL_FETCH_TIMEOUT", grpc.StatusCode.DEADLINE_EXCEEDED, FetchTimeout("fake: too slow"))
fetch_failure("URL_FETCH_FAILED", grpc.StatusCode.INVALID_ARGUMENT, FetchFailed("fake: HTTP 404"))


def with_encoder(flag: str, request):
    async def trigger(s, f: FakeServer):
        setattr(f.image_encoder, flag, True)
        try:
            return await request(s, f)
        finally:
            setattr(f.image_encoder, flag, False)
    return trigger


case("INFERENCE_UNAVAILABLE", grpc.StatusCode.UNAVAILABLE)(with_encoder("unavailable", create(corel_path(9).read_bytes())))
case("INTERNAL_ERROR", grpc.StatusCode.INTERNAL)(with_encoder("broken", create(corel_path(9).read_bytes())))


def with_keys(call):
    """Runs `call` on a second fake server that enforces keys: one read key on "r" only."""
    async def trigger(s, f: FakeServer):
        import tempfile
        from pathlib import Path

        from imagesearch.auth.keys import KeyFile, KeyStore
        from imagesearch.auth.scopes import Grant

        with tempfile.TemporaryDirectory() as folder:
            key = KeyFile(Path(folder) / "api_keys.json").create("reader", (Grant.parse("read:r"),))
            guarded = await start_fake_server(Path(folder) / "data", keys=KeyStore(Path(folder) / "api_keys.json"))
            channel = grpc.aio.insecure_channel(guarded.address)
            try:
                return await call(pb_grpc.ImageSearchServiceStub(channel), key)
            finally:
                await channel.close()
                await guarded.stop()
    return trigger


case("API_KEY_MISSING", grpc.StatusCode.UNAUTHENTICATED)(with_keys(
    lambda s, key: s.GetCollection(pb.GetCollectionRequest(name=P))))
case("API_KEY_INVALID", grpc.StatusCode.UNAUTHENTICATED)(with_keys(
    lambda s, key: s.GetCollection(pb.GetCollectionRequest(name=P), metadata=[("authorization", "Bearer isk_wrong")])))
case("PERMISSION_MISSING", grpc.StatusCode.PERMISSION_DENIED)(with_keys(
    lambda s, key: s.DeleteCollection(pb.DeleteCollectionRequest(name=P), metadata=[("authorization", f"Bearer {key}")])))



def with_quotas(call, **settings):
    """Runs `call(stub, quotas)` on a second fake server with keys ("a": every role) and quotas."""
    async def trigger(s, f: FakeServer):
        import tempfile
        from pathlib import Path

        from imagesearch.auth.keys import KeyFile, KeyStore
        from imagesearch.auth.quotas import Quotas, QuotaSettings
        from imagesearch.auth.scopes import Grant

        with tempfile.TemporaryDirectory() as folder:
            key = KeyFile(Path(folder) / "api_keys.json").create("a", (Grant.parse("read:*"), Grant.parse("write:*")))
            quotas = Quotas(QuotaSettings(**settings))
            guarded = await start_fake_server(Path(folder) / "data", keys=KeyStore(Path(folder) / "api_keys.json"),
                                              quotas=quotas)
            channel = grpc.aio.insecure_channel(guarded.address)
            try:
                return await call(pb_grpc.ImageSearchServiceStub(channel), [("authorization", f"Bearer {key}")], quotas)
            finally:
                await channel.close()
                await guarded.stop()
    return trigger


async def _twice(s, auth, quotas):
    await s.ListCollections(pb.ListCollectionsRequest(), metadata=auth)
    return await s.ListCollections(pb.ListCollectionsRequest(), metadata=auth)


async def _stream_while_one_is_held(s, auth, quotas):
    import asyncio

    held = s.ImportItems(metadata=auth)  # sends nothing: holds its slot until cancelled
    try:
        while quotas.running < 1:
            await asyncio.sleep(0.01)
        return [hit async for hit in s.SearchItems(pb.SearchItemsRequest(parent=P, text="x"), metadata=auth)]
    finally:
        held.cancel()


async def _call_while_one_is_held(s, auth, quotas):
    import asyncio

    held = s.ImportItems(metadata=auth)
    try:
        while quotas.running < 1:
            await asyncio.sleep(0.01)
        return await s.ListCollections(pb.ListCollectionsRequest(), metadata=auth)
    finally:
        held.cancel()


case("QUOTA_RATE_EXCEEDED", grpc.StatusCode.RESOURCE_EXHAUSTED)(with_quotas(
    _twice, key_requests_per_s=0.001, key_burst=1))
case("QUOTA_STREAMS_EXCEEDED", grpc.StatusCode.RESOURCE_EXHAUSTED)(with_quotas(_stream_while_one_is_held, key_streams=1))
case("SERVER_BUSY", grpc.StatusCode.RESOURCE_EXHAUSTED)(with_quotas(_call_while_one_is_held, max_concurrent_rpcs=1))


@case("COLLECTION_LIMIT_REACHED", grpc.StatusCode.RESOURCE_EXHAUSTED)
async def past_the_collection_cap(s, f: FakeServer):
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as folder:
        capped = await start_fake_server(Path(folder), max_collections=1)
        channel = grpc.aio.insecure_channel(capped.address)
        try:
            stub = pb_grpc.ImageSearchServiceStub(channel)
            await stub.CreateCollection(pb.CreateCollectionRequest(collection_id="one"))
            return await stub.CreateCollection(pb.CreateCollectionRequest(collection_id="two"))
        finally:
            await channel.close()
            await capped.stop()


def with_faces(call):
    """Runs `call` on a second fake server whose face manager (synthetic detector) knows
    collection "fam", created with faces_enabled and empty."""
    async def trigger(s, f: FakeServer):
        import tempfile
        from pathlib import Path

        from face_fixtures import DetectionTable, open_manager

        with tempfile.TemporaryDirectory() as folder:
            manager = open_manager(Path(folder) / "faces", detector=DetectionTable())
            served = await start_fake_server(Path(folder) / "data", faces=manager)
            channel = grpc.aio.insecure_channel(served.address)
            try:
                stub = pb_grpc.ImageSearchServiceStub(channel)
                await stub.CreateCollection(pb.CreateCollectionRequest(
                    collection_id="fam", collection=pb.Collection(faces_enabled=True)))
                return await call(stub)
            finally:
                await channel.close()
                await served.stop()
                await manager.close()
    return trigger


case("PERSON_NOT_FOUND", grpc.StatusCode.NOT_FOUND)(with_faces(
    lambda s: s.GetPerson(pb.GetPersonRequest(name="collections/fam/people/person-1"))))
case("FACE_NOT_FOUND", grpc.StatusCode.NOT_FOUND)(with_faces(
    lambda s: s.UpdateFace(pb.UpdateFaceRequest(face=pb.Face(name="collections/fam/items/x/faces/0")))))


AUDIT_GROUPS = 150
LONG = "x" * 240  # long IDs make each group's response ~1 KB


@case("OPERATION_ALREADY_RUNNING", grpc.StatusCode.RESOURCE_EXHAUSTED)
async def second_audit(s, f: FakeServer):
    # A reader that reads one group and stops: the first audit's responses fill gRPC's
    # flow-control window, so it stays running (and holds the collection's audit).
    channel = grpc.aio.insecure_channel(f.address, options=[("grpc.http2.bdp_probe", 0)])
    first = pb_grpc.ImageSearchServiceStub(channel).FindDuplicates(
        pb.FindDuplicatesRequest(parent="collections/audit"))
    try:
        await first.read()
        return [g async for g in s.FindDuplicates(pb.FindDuplicatesRequest(parent="collections/audit"))]
    finally:
        first.cancel()
        await channel.close()


# --- administration (admin.proto) ---------------------------------------------------------
def admin(f: FakeServer):
    from imagesearch_client.v1 import admin_pb2_grpc

    return admin_pb2_grpc.ImageSearchAdminServiceStub(grpc.aio.insecure_channel(f.address))


async def upload(f: FakeServer, data: bytes, snapshot_id: str = ""):
    from imagesearch_client.v1 import admin_pb2 as apb

    async def chunks():
        yield apb.UploadSnapshotRequest(snapshot_id=snapshot_id, data=data)
    return await admin(f).UploadSnapshot(chunks())


@case("SNAPSHOT_NOT_FOUND", grpc.StatusCode.NOT_FOUND)
async def missing_snapshot(s, f: FakeServer):
    from imagesearch_client.v1 import admin_pb2 as apb

    return await admin(f).GetSnapshot(apb.GetSnapshotRequest(name=f"{P}/snapshots/nope"))


@case("SNAPSHOT_CORRUPT", grpc.StatusCode.INVALID_ARGUMENT)
async def corrupt_upload(s, f: FakeServer):
    return await upload(f, b"not a snapshot" * 100)


@case("SNAPSHOT_ALREADY_EXISTS", grpc.StatusCode.ALREADY_EXISTS)
async def snapshot_id_taken(s, f: FakeServer):
    from imagesearch_client.v1 import admin_pb2 as apb

    made = await admin(f).CreateSnapshot(apb.CreateSnapshotRequest(parent=P))
    data = b"".join([c.data async for c in admin(f).DownloadSnapshot(apb.DownloadSnapshotRequest(name=made.name))])
    await upload(f, data, "taken")
    return await upload(f, data, "taken")


@case("STORE_UNSUPPORTED", grpc.StatusCode.FAILED_PRECONDITION)
async def snapshot_of_a_newer_release(s, f: FakeServer):
    # The other causes need a remote Qdrant (tests/test_store_remote_admin.py covers that
    # store's refusals): a snapshot file a newer imagesearch wrote is the one made here.
    import tempfile
    from pathlib import Path

    from imagesearch.store.snapshot_file import SnapshotWriter

    with tempfile.TemporaryDirectory() as tmp:
        writer = SnapshotWriter(Path(tmp) / "new.snapshot", 99)
        writer.manifest.snapshot_format = 99
        writer.finish()
        return await upload(f, (Path(tmp) / "new.snapshot").read_bytes())


@case("ALIAS_NOT_FOUND", grpc.StatusCode.NOT_FOUND)
async def missing_alias(s, f: FakeServer):
    from imagesearch_client.v1 import admin_pb2 as apb

    return await admin(f).GetAlias(apb.GetAliasRequest(name="aliases/nope"))


@case("ALIAS_ALREADY_EXISTS", grpc.StatusCode.ALREADY_EXISTS)
async def alias_named_like_a_collection(s, f: FakeServer):
    from imagesearch_client.v1 import admin_pb2 as apb

    return await admin(f).CreateAlias(apb.CreateAliasRequest(alias_id="strict", alias=apb.Alias(collection=P)))


@case("ORIGINALS_NOT_KEPT", grpc.StatusCode.FAILED_PRECONDITION)
async def reprocess_without_originals(s, f: FakeServer):
    from imagesearch_client.v1 import admin_pb2 as apb

    request = apb.ReprocessCollectionRequest(name=P, mode=apb.REPROCESS_MODE_FILL)
    return [r async for r in admin(f).ReprocessCollection(request)]


@case("API_KEY_NOT_FOUND", grpc.StatusCode.NOT_FOUND)
async def missing_api_key(s, f: FakeServer):
    from imagesearch_client.v1 import admin_pb2 as apb

    return await admin(f).GetApiKey(apb.GetApiKeyRequest(name="apiKeys/nope"))


@case("API_KEY_ALREADY_EXISTS", grpc.StatusCode.ALREADY_EXISTS)
async def api_key_id_taken(s, f: FakeServer):
    # This fake server has no auth interceptor: the keys written here enforce nothing.
    from imagesearch_client.v1 import admin_pb2 as apb

    request = apb.CreateApiKeyRequest(api_key_id="twice", api_key=apb.ApiKey(roles=["admin:*"]))
    await admin(f).CreateApiKey(request)
    return await admin(f).CreateApiKey(request)


def red() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), (250, 5, 5)).save(buffer, "JPEG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
async def served(tmp_path_factory, monkeypatch_module):
    # The registry is read-only; the collection handlers see one with the test's set added.
    monkeypatch_module.setattr(collections, "MODEL_SETS", {**model_sets.MODEL_SETS, IMAGE_ONLY.name: IMAGE_ONLY})
    fake = await start_fake_server(tmp_path_factory.mktemp("reasons"), extra_sets=(IMAGE_ONLY,))
    channel = grpc.aio.insecure_channel(fake.address)
    stub = pb_grpc.ImageSearchServiceStub(channel)

    async def collection(collection_id: str, **fields):
        await stub.CreateCollection(pb.CreateCollectionRequest(collection_id=collection_id,
                                                               collection=pb.Collection(**fields)))
    await collection("r")
    await collection("image-only", model_set="image-only")
    await collection("strict", max_nsfw_score=0.2)
    await collection("unscored", skip_nsfw_scoring=True)
    await stub.CreateItem(pb.CreateItemRequest(parent=P, item_id="a", image=image(content=corel_path(1).read_bytes())))
    await collection("audit", skip_nsfw_scoring=True)
    for index in range(AUDIT_GROUPS):  # each photo twice: AUDIT_GROUPS duplicate groups
        for copy in (1, 2):
            await stub.CreateItem(pb.CreateItemRequest(
                parent="collections/audit", item_id=f"{LONG}-{index}-{copy}", duplicate_policy=pb.DUPLICATE_POLICY_IGNORE,
                image=image(content=corel_path(index * 5).read_bytes())))
    yield stub, fake
    await channel.close()
    await fake.stop()


@pytest.fixture(scope="module")
def monkeypatch_module():
    patch = pytest.MonkeyPatch()
    yield patch
    patch.undo()


@pytest.mark.parametrize("name", sorted(CASES))
async def test_reason(served, name: str) -> None:
    stub, fake = served
    code, trigger = CASES[name]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await trigger(stub, fake)
    assert caught.value.code() == code, caught.value.details()
    assert reason(caught.value)[0] == name, caught.value.details()


@pytest.mark.asyncio(loop_scope="session")
async def test_every_reason_has_a_case() -> None:
    reasons = {n for n in ErrorReason.keys() if n != "ERROR_REASON_UNSPECIFIED"}
    assert reasons == set(CASES), f"reasons without a case: {reasons - set(CASES)}; cases of no reason: " \
                                  f"{set(CASES) - reasons}"


