"""The administration RPCs (admin.proto) through the Python admin client, against the real
handlers and the real embedded store over fake encoders (tests/api_fakes.py): snapshots
taken while inserts stream in, moved to another server instance by download/upload and
restored there; corrupt, truncated and unservable snapshots refused with nothing changed;
an alias switched under concurrent searches; re-processing with progress, cancelled and
resumed; API keys created, listed and revoked, the revoked key refused on the next call."""

from __future__ import annotations

import asyncio
import inspect
import shutil
from pathlib import Path

import grpc
import pytest
from imagesearch_client import AsyncImageSearchClient, InsertItem
from imagesearch_client.admin_client import AdminClient
from imagesearch_client.async_admin_client import AsyncAdminClient
from imagesearch_client.errors import error_reason

from api_fakes import image_vector, start_fake_server
from conftest import corel_path
from imagesearch.auth.keys import KeyStore
from imagesearch.models.model_sets import MODEL_SETS
from imagesearch.store.base import PointToStore

pytestmark = pytest.mark.asyncio(loop_scope="session")

PHOTOS = [i * 10 for i in range(60)]  # 60 Corel photos across the classes
QUERIES = [0, 130, 270, 410, 550]


def item(index: int) -> InsertItem:
    return InsertItem(image=corel_path(index).read_bytes(), id=f"p{index}", metadata={"i": index})


async def searches(client: AsyncImageSearchClient, collection: str) -> dict[int, list[tuple[str, float, dict]]]:
    return {q: [(h.id, round(h.score, 6), h.metadata) for h in await client.search(
        collection, corel_path(q).read_bytes(), top_k=10)] for q in QUERIES}


async def refused(call) -> tuple[grpc.StatusCode, str | None]:
    with pytest.raises(grpc.RpcError) as caught:
        result = call()
        if inspect.isasyncgen(result):
            async for _ in result:
                pass
        else:
            await result
    return caught.value.code(), error_reason(caught.value)


async def test_admin_clients_are_congruent() -> None:
    def public(cls: type) -> dict:
        return {n: m for n, m in inspect.getmembers(cls, inspect.isfunction) if not n.startswith("_")}

    sync, aio = public(AdminClient), public(AsyncAdminClient)
    assert sorted(sync) == sorted(aio) and len(sync) == 17
    for name, method in sync.items():
        assert inspect.signature(method).parameters.keys() == inspect.signature(aio[name]).parameters.keys(), name
        assert [p.default for p in inspect.signature(method).parameters.values()] == \
               [p.default for p in inspect.signature(aio[name]).parameters.values()], name
        want = inspect.isasyncgenfunction if inspect.isgeneratorfunction(method) else inspect.iscoroutinefunction
        assert want(aio[name]), name


async def test_snapshot_during_inserts_moves_to_another_server(tmp_path: Path) -> None:
    source = await start_fake_server(tmp_path / "a")
    target = await start_fake_server(tmp_path / "b")
    try:
        async with AsyncImageSearchClient(source.address) as a, AsyncImageSearchClient(target.address) as b:
            await a.create_collection("photos", keep_originals=True)
            acked: list[str] = []

            async def insert_stream() -> None:
                async for outcome in a.import_items("photos", [item(i) for i in PHOTOS]):
                    assert outcome.ok
                    acked.append(outcome.item.id)

            inserts = asyncio.create_task(insert_stream())
            while len(acked) < 15:
                await asyncio.sleep(0.005)
            before = set(acked)
            during = await a.admin.create_snapshot("photos")
            await inserts
            assert not inserts.exception()
            # Every item acknowledged before the call is in it; the stream went on meanwhile.
            assert len(before) <= during.item_count <= len(PHOTOS)
            still = await a.admin.create_snapshot("photos")  # no writes now: the whole collection
            assert still.item_count == len(PHOTOS)
            assert [s.snapshot_id for s in await a.admin.list_snapshots("photos")] == \
                   [during.snapshot_id, still.snapshot_id]
            assert (await a.admin.get_snapshot("photos", still.snapshot_id)).checksum == still.checksum

            for snap, name in ((during, "during"), (still, "still")):
                path = tmp_path / f"{name}.snapshot"
                downloaded = await a.admin.download_snapshot("photos", snap.snapshot_id, path)
                assert downloaded.size_bytes == path.stat().st_size == snap.size_bytes
                uploaded = await b.admin.upload_snapshot(path, snapshot_id=name)
                assert (uploaded.checksum, uploaded.item_count) == (snap.checksum, snap.item_count)
                restored = await b.admin.restore_snapshot("photos", name, as_collection=f"photos-{name}")
                assert [(c.name, c.item_count) for c in restored] == [(f"collections/photos-{name}", snap.item_count)]
            got = {i.id: i for i in await b.batch_get_items("photos-during", sorted(before))}
            assert set(got) == before
            assert all(got[f"p{i}"].metadata == {"i": i} for i in PHOTOS if f"p{i}" in before)
            assert await searches(b, "photos-still") == await searches(a, "photos")
            # A lost collection comes back from its snapshot on the same server.
            expected = await searches(a, "photos")
            await a.delete_collection("photos")
            assert len(await a.admin.list_snapshots("photos")) == 2
            await a.admin.restore_snapshot("photos", still.snapshot_id)
            assert await searches(a, "photos") == expected
    finally:
        await source.stop()
        await target.stop()


async def test_corrupt_truncated_and_unserved_snapshots_change_nothing(tmp_path: Path) -> None:
    source = await start_fake_server(tmp_path / "a", extra_sets=(MODEL_SETS["clip"],))
    target = await start_fake_server(tmp_path / "b")
    try:
        async with AsyncImageSearchClient(source.address) as a, AsyncImageSearchClient(target.address) as b:
            await a.create_collection("photos")
            await a.create_collection("clipped", model_set="clip")
            for c in ("photos", "clipped"):
                await a.create_item(c, item(5))
            good = await a.admin.create_snapshot("photos")
            path = tmp_path / "good.snapshot"
            await a.admin.download_snapshot("photos", good.snapshot_id, path)
            data = path.read_bytes()
            truncated, flipped = tmp_path / "cut.snapshot", tmp_path / "flipped.snapshot"
            truncated.write_bytes(data[: len(data) // 2])
            flipped.write_bytes(data[:600] + bytes([data[600] ^ 1]) + data[601:])
            for bad in (truncated, flipped):
                assert await refused(lambda: b.admin.upload_snapshot(bad)) == \
                       (grpc.StatusCode.INVALID_ARGUMENT, "SNAPSHOT_CORRUPT")
            assert await b.admin.list_snapshots() == []
            # An operator's copy into the snapshots folder (the other way to move a file):
            folder = tmp_path / "b" / "snapshots" / "photos"
            folder.mkdir(parents=True)
            shutil.copy(flipped, folder / "copied.snapshot")
            shutil.copy(truncated, folder / "cut.snapshot")
            for name in ("copied", "cut"):
                assert await refused(lambda: b.admin.restore_snapshot("photos", name)) == \
                       (grpc.StatusCode.DATA_LOSS, "SNAPSHOT_CORRUPT")
            clip = await a.admin.create_snapshot("clipped")
            clip_path = tmp_path / "clip.snapshot"
            await a.admin.download_snapshot("clipped", clip.snapshot_id, clip_path)
            await b.admin.upload_snapshot(clip_path, snapshot_id="clip")
            code, reason = await refused(lambda: b.admin.restore_snapshot("clipped", "clip"))
            assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "MODEL_SET_NOT_SERVED")
            assert [c async for c in _collections(b)] == []
            assert not (tmp_path / "b" / "collections.staging" / "clipped").exists()
            assert await refused(lambda: b.admin.get_snapshot("photos", "nope")) == \
                   (grpc.StatusCode.NOT_FOUND, "SNAPSHOT_NOT_FOUND")
            await b.admin.upload_snapshot(path, snapshot_id="ok")
            assert await refused(lambda: b.admin.upload_snapshot(path, snapshot_id="ok")) == \
                   (grpc.StatusCode.ALREADY_EXISTS, "SNAPSHOT_ALREADY_EXISTS")
            await b.admin.restore_snapshot("photos", "ok")
            assert await refused(lambda: b.admin.restore_snapshot("photos", "ok")) == \
                   (grpc.StatusCode.ALREADY_EXISTS, "COLLECTION_ALREADY_EXISTS")
            await b.admin.delete_snapshot("photos", "ok")
            assert {s.snapshot_id for s in await b.admin.list_snapshots()} == {"copied", "cut", "clip"}
    finally:
        await source.stop()
        await target.stop()


async def _collections(client: AsyncImageSearchClient):
    async for c in client.list_collections():
        yield c.name


async def test_alias_switch_is_atomic_under_concurrent_searches(tmp_path: Path) -> None:
    fake = await start_fake_server(tmp_path)
    try:
        async with AsyncImageSearchClient(fake.address) as c:
            for name, photos in (("old", PHOTOS[:20]), ("new", PHOTOS[20:40])):
                await c.create_collection(name)
                async for outcome in c.import_items(name, [item(i) for i in photos]):
                    assert outcome.ok
            old_ids, new_ids = {f"p{i}" for i in PHOTOS[:20]}, {f"p{i}" for i in PHOTOS[20:40]}
            assert (await c.admin.create_alias("live", "old")).collection == "old"
            query = corel_path(3).read_bytes()
            switched = asyncio.Event()
            answers: list[tuple[bool, str]] = []

            async def searcher() -> None:
                while True:
                    after = switched.is_set()
                    hits = {h.id for h in await c.search("live", query, top_k=5)}
                    answers.append((after, "old" if hits <= old_ids else "new" if hits <= new_ids else "mixed"))
                    if after and len(answers) > 150:
                        return

            tasks = [asyncio.create_task(searcher()) for _ in range(6)]
            await asyncio.sleep(0.2)
            assert (await c.admin.switch_alias("live", "new")).collection == "new"
            switched.set()
            await asyncio.gather(*tasks)
            kinds = {kind for _, kind in answers}
            assert kinds == {"old", "new"}, kinds  # no error, no mixed answer
            assert all(kind == "new" for after, kind in answers if after)
            # Inserts accept the alias too, into the collection it names now.
            await c.create_item("live", item(999))
            assert (await c.get_item("new", "p999")).id == "p999"
            assert [a.alias_id for a in await c.admin.list_aliases("new")] == ["live"]
            assert await c.admin.list_aliases("old") == []
            await c.admin.delete_alias("live")
            assert await refused(lambda: c.admin.get_alias("live")) == (grpc.StatusCode.NOT_FOUND, "ALIAS_NOT_FOUND")
            assert await refused(lambda: c.admin.create_alias("old", "new")) == \
                   (grpc.StatusCode.ALREADY_EXISTS, "ALIAS_ALREADY_EXISTS")
    finally:
        await fake.stop()


async def test_reprocess_fills_then_reembeds_resuming_after_a_cancel(tmp_path: Path) -> None:
    fake = await start_fake_server(tmp_path)
    indices = list(range(0, 100))
    try:
        async with AsyncImageSearchClient(fake.address) as c:
            await c.create_collection("photos", keep_originals=True)
            # Items as stored before fingerprints and NSFW scores existed (no features).
            points = [PointToStore(id=f"p{i}", vectors={s: image_vector(corel_path(i).read_bytes())
                                                        for s in ("image", "text_image")},
                                   metadata={"i": i}, original=corel_path(i).read_bytes()) for i in indices]
            await fake.store.upsert("photos", points)
            assert "fingerprint" in (await c.get_item("photos", "p1")).missing_features
            progress = [p async for p in c.admin.reprocess("photos", "fill")]
            assert [p.done for p in progress[:-1]] == [64, 100] and progress[-1].finished
            assert (progress[-1].processed, progress[-1].skipped, progress[-1].target) == (100, 0, "photos")
            assert "fingerprint" not in (await c.get_item("photos", "p1")).missing_features
            again = [p async for p in c.admin.reprocess("photos", "fill")][-1]
            assert (again.processed, again.skipped) == (0, 100)

            # REEMBED, cancelled after its first page (a client gone, or a server stopped).
            run = c.admin.reprocess("photos", "reembed", target="photos-v2")
            first = await run.__anext__()
            assert first.done == 64 and not first.finished
            await run.aclose()
            await asyncio.sleep(0.2)
            partial = await c.count_items("photos-v2")
            assert 64 <= partial < 100
            final = [p async for p in c.admin.reprocess("photos", "reembed", target="photos-v2")][-1]
            assert final.skipped == partial and final.processed == 100 - partial
            assert await c.count_items("photos-v2") == 100
            assert await refused(lambda: c.admin.reprocess("photos", "reembed", target="photos")) == \
                   (grpc.StatusCode.INVALID_ARGUMENT, "FIELD_INVALID")
            await c.create_collection("plain")
            assert await refused(lambda: c.admin.reprocess("plain", "fill")) == \
                   (grpc.StatusCode.FAILED_PRECONDITION, "ORIGINALS_NOT_KEPT")
    finally:
        await fake.stop()


async def test_api_keys_created_listed_and_revoked_over_rpc(tmp_path: Path) -> None:
    keys = KeyStore(tmp_path / "api_keys.json")
    fake = await start_fake_server(tmp_path, keys=keys)
    try:
        async with AsyncImageSearchClient(fake.address) as anyone:
            # No key yet: calls are open, and the first key must be able to manage keys.
            assert await refused(lambda: anyone.admin.create_api_key("reader", ["read:*"])) == \
                   (grpc.StatusCode.INVALID_ARGUMENT, "FIELD_INVALID")
            root = await anyone.admin.create_api_key("root", ["admin:*", "read:*"])
            assert root.key.startswith("isk_") and root.api_key.roles == ("admin:*", "read:*")
            assert await refused(lambda: anyone.list_collections_page()) == \
                   (grpc.StatusCode.UNAUTHENTICATED, "API_KEY_MISSING")
        async with AsyncImageSearchClient(fake.address, api_key=root.key) as admin:
            reader = await admin.admin.create_api_key("reader", ["read:*"])
            tenant = await admin.admin.create_api_key("tenant", ["admin:tenant-*", "read:tenant-*"])
            assert [k.key_id for k in await admin.admin.list_api_keys()] == ["reader", "root", "tenant"]
            assert (await admin.admin.get_api_key("reader")).roles == ("read:*",)
            assert "sha256" not in repr(await admin.admin.list_api_keys())
            await admin.create_collection("tenant-photos")
            await admin.create_collection("other")
            assert await refused(lambda: admin.admin.create_api_key("reader", ["read:*"])) == \
                   (grpc.StatusCode.ALREADY_EXISTS, "API_KEY_ALREADY_EXISTS")
        denied = (grpc.StatusCode.PERMISSION_DENIED, "PERMISSION_MISSING")
        async with AsyncImageSearchClient(fake.address, api_key=tenant.key) as t:
            assert (await t.admin.create_snapshot("tenant-photos")).item_count == 0
            await t.admin.create_alias("tenant-live", "tenant-photos")
            assert await refused(lambda: t.admin.create_snapshot("other")) == denied
            assert await refused(lambda: t.admin.create_snapshot(None)) == denied
            assert await refused(lambda: t.admin.create_alias("tenant-x", "other")) == denied
            assert await refused(lambda: t.admin.list_api_keys()) == denied
        async with AsyncImageSearchClient(fake.address, api_key=reader.key) as r:
            assert (await r.get_collection("other")).name == "collections/other"
            assert await refused(lambda: r.admin.list_snapshots("other")) == denied
            async with AsyncImageSearchClient(fake.address, api_key=root.key) as admin:
                await admin.admin.delete_api_key("reader")
                assert await refused(lambda: admin.admin.get_api_key("reader")) == \
                       (grpc.StatusCode.NOT_FOUND, "API_KEY_NOT_FOUND")
            # Revoked: refused on the very next call, no restart and no reload interval.
            assert await refused(lambda: r.get_collection("other")) == \
                   (grpc.StatusCode.UNAUTHENTICATED, "API_KEY_INVALID")
    finally:
        await fake.stop()


async def test_keys_cli_against_a_server(tmp_path: Path) -> None:
    import contextlib
    import io

    from imagesearch.cli import main

    fake = await start_fake_server(tmp_path, keys=KeyStore(tmp_path / "api_keys.json"))

    def run(*args: str) -> tuple[int, str]:
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
            code = main(["keys", *args, "--server", fake.address])
        return code, out.getvalue()

    try:
        code, printed = await asyncio.to_thread(run, "create", "ops", "--role", "admin:*")
        root = printed.strip()
        assert code == 0 and root.startswith("isk_")
        code, printed = await asyncio.to_thread(run, "create", "bot", "--role", "admin:*", "--expires-in-days", "1",
                                                "--api-key", root)
        bot = printed.strip()
        assert code == 0 and bot.startswith("isk_") and bot != root
        code, printed = await asyncio.to_thread(run, "list", "--api-key", bot)
        assert code == 0
        assert [line.split("\t")[:2] for line in printed.splitlines()] == [["bot", "admin:*"], ["ops", "admin:*"]]
        assert "expires never" not in printed.splitlines()[0] and "expires never" in printed.splitlines()[1]
        assert (await asyncio.to_thread(run, "revoke", "bot", "--api-key", root))[0] == 0
        assert (await asyncio.to_thread(run, "list", "--api-key", bot))[0] == 2  # revoked: refused at once
    finally:
        await fake.stop()


async def test_remote_qdrant_store_aliases_and_refusals(tmp_path: Path) -> None:
    """The admin service over RemoteQdrantStore in qdrant-client's local mode (same client
    API as a Qdrant server; none runs here): aliases work through the RPCs; the file
    transfers and whole-server snapshots answer STORE_UNSUPPORTED with what to do instead.
    Qdrant's own snapshot calls are not implemented by local mode: untested."""
    from qdrant_client import AsyncQdrantClient

    from api_fakes import FakeFetcher, FakeImageEncoder, FakeNsfw, served_offline
    from imagesearch.api.admin_service import add_admin_service
    from imagesearch.api.service import ImageSearchService, ServiceLimits
    from imagesearch.store.remote import RemoteQdrantStore
    from imagesearch_client.v1 import imagesearch_pb2_grpc as pb_grpc

    store = RemoteQdrantStore(None, client=AsyncQdrantClient(location=":memory:"))
    service = ImageSearchService(store, {"offline": served_offline(FakeImageEncoder())}, "offline",
                                 ServiceLimits(40_000_000, 4), FakeFetcher(), FakeNsfw())
    server = grpc.aio.server()
    pb_grpc.add_ImageSearchServiceServicer_to_server(service, server)
    add_admin_service(service.ctx, KeyStore(tmp_path / "api_keys.json"), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    unsupported = (grpc.StatusCode.FAILED_PRECONDITION, "STORE_UNSUPPORTED")
    try:
        async with AsyncImageSearchClient(f"127.0.0.1:{port}") as c:
            for name in ("v1", "v2"):
                await c.create_collection(name)
            await c.create_item("v2", item(40))
            await c.admin.create_alias("live", "v1")
            await c.admin.switch_alias("live", "v2")
            assert (await c.admin.get_alias("live")).collection == "v2"
            assert [h.id for h in await c.search("live", corel_path(40).read_bytes(), top_k=1)] == ["p40"]
            assert await refused(lambda: c.admin.create_snapshot(None)) == unsupported
            assert await refused(lambda: c.admin.download_snapshot("v2", "x", tmp_path / "x")) == unsupported
            assert not (tmp_path / "x").exists()  # no partial file left
            assert await refused(lambda: c.admin.upload_snapshot(Path(__file__))) == unsupported
    finally:
        await server.stop(None)
        await store.close()
