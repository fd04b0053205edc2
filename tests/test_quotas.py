"""Quotas and the audit log (docs/security.md, "Quotas", "Audit") on in-process servers: the
real handlers, interceptor and embedded store over fake encoders (tests/api_fakes.py). The
quotas' clock is the test's, so refilling a bucket needs no sleep."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from imagesearch_client.v1 import imagesearch_pb2 as pb
from imagesearch_client.v1 import imagesearch_pb2_grpc as pb_grpc

from api_fakes import start_fake_server
from conftest import corel_path
from imagesearch.auth.audit import AuditLog, mutating
from imagesearch.auth.keys import KeyFile, KeyStore, hash_key
from imagesearch.auth.quotas import Quotas, QuotaSettings, TokenBucket
from imagesearch.auth.scopes import Grant
from test_api_rules import reason

SESSION_LOOP = pytest.mark.asyncio(loop_scope="session")  # the loop of the other in-process servers


def details(error: grpc.aio.AioRpcError) -> dict[str, object]:
    """The error's RetryInfo delay (seconds) and QuotaFailure subjects, where present."""
    found: dict[str, object] = {}
    for detail in rpc_status.from_call(error).details:
        if detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            info = error_details_pb2.RetryInfo()
            detail.Unpack(info)
            found["retry_s"] = info.retry_delay.seconds + info.retry_delay.nanos / 1e9
        if detail.Is(error_details_pb2.QuotaFailure.DESCRIPTOR):
            failure = error_details_pb2.QuotaFailure()
            detail.Unpack(failure)
            found["subjects"] = [v.subject for v in failure.violations]
    return found


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_keys(folder: Path) -> tuple[KeyStore, dict[str, str]]:
    file = KeyFile(folder / "api_keys.json")
    keys = {name: file.create(name, (Grant.parse("read:*"), Grant.parse("write:*"), Grant.parse("admin:*")))
            for name in ("a", "b")}
    keys["reader"] = file.create("reader", (Grant.parse("read:*"),))
    return KeyStore(folder / "api_keys.json"), keys


def bearer(key: str) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {key}")]


async def refused(call) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return caught.value


async def wait_until(condition) -> None:
    """Polls an in-process condition (the server runs on this loop) for up to 5 s."""
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached in 5 s")


@SESSION_LOOP
async def test_rate_per_key(tmp_path: Path) -> None:
    store, keys = make_keys(tmp_path)
    clock = Clock()
    quotas = Quotas(QuotaSettings(key_requests_per_s=2, key_burst=3), clock=clock)
    fake = await start_fake_server(tmp_path / "data", keys=store, quotas=quotas)
    async with grpc.aio.insecure_channel(fake.address) as channel:
        stub = pb_grpc.ImageSearchServiceStub(channel)
        call = lambda key: stub.ListCollections(pb.ListCollectionsRequest(), metadata=bearer(key))  # noqa: E731
        for _ in range(3):  # the burst
            await call(keys["a"])
        error = await refused(call(keys["a"]))
        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert reason(error) == ("QUOTA_RATE_EXCEEDED", {"key": "a", "limit": "2"})
        assert details(error) == {"retry_s": pytest.approx(0.5), "subjects": ["api-key:a"]}
        assert "'a'" in error.details() and "2 calls a second" in error.details()
        await call(keys["b"])  # another key has its own bucket
        clock.now += 0.5  # one token back
        await call(keys["a"])
        assert reason(await refused(call(keys["a"])))[0] == "QUOTA_RATE_EXCEEDED"
    await fake.stop()


def test_token_bucket_refills_to_capacity() -> None:
    bucket = TokenBucket(rate=10, capacity=2, tokens=2, stamp=0.0)
    assert [bucket.take(0.0) for _ in range(3)] == [0.0, 0.0, pytest.approx(0.1)]
    assert bucket.take(100.0) == 0.0 and bucket.take(100.0) == 0.0  # no more than capacity saved up
    assert bucket.take(100.0) > 0


@SESSION_LOOP
async def test_streams_per_key_and_server_cap(tmp_path: Path) -> None:
    store, keys = make_keys(tmp_path)
    quotas = Quotas(QuotaSettings(key_streams=1, max_concurrent_rpcs=3))
    fake = await start_fake_server(tmp_path / "data", keys=store, quotas=quotas)
    async with grpc.aio.insecure_channel(fake.address) as channel:
        stub = pb_grpc.ImageSearchServiceStub(channel)
        await stub.CreateCollection(pb.CreateCollectionRequest(collection_id="q"), metadata=bearer(keys["a"]))
        search = pb.SearchItemsRequest(parent="collections/q", text="anything")
        # An ImportItems stream that sends nothing holds its slots until it is cancelled.
        held = stub.ImportItems(metadata=bearer(keys["a"]))
        await wait_until(lambda: quotas.running == 1)
        error = await refused(_read_all(stub.SearchItems(search, metadata=bearer(keys["a"]))))
        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert reason(error) == ("QUOTA_STREAMS_EXCEEDED", {"key": "a", "limit": "1"})
        assert details(error) == {"retry_s": 1.0, "subjects": ["api-key:a"]}
        await stub.GetCollection(pb.GetCollectionRequest(name="collections/q"), metadata=bearer(keys["a"]))  # unary
        assert await _read_all(stub.SearchItems(search, metadata=bearer(keys["b"]))) == []  # another key
        # Server-wide: three calls at once, whoever makes them.
        others = [stub.ImportItems(metadata=bearer(keys[k])) for k in ("b", "reader")]
        await wait_until(lambda: quotas.running == 3)
        error = await refused(stub.GetCollection(pb.GetCollectionRequest(name="collections/q"),
                                                 metadata=bearer(keys["reader"])))
        assert reason(error) == ("SERVER_BUSY", {"limit": "3"})
        assert details(error) == {"retry_s": 1.0, "subjects": ["server:concurrent-calls"]}
        for call in (held, *others):
            call.cancel()
        await wait_until(lambda: quotas.running == 0)
        assert await _read_all(stub.SearchItems(search, metadata=bearer(keys["a"]))) == []  # the slot came back
    await fake.stop()


async def _read_all(call) -> list:
    return [response async for response in call]


@SESSION_LOOP
async def test_server_cap_without_keys(tmp_path: Path) -> None:
    quotas = Quotas(QuotaSettings(key_requests_per_s=1, key_burst=1, max_concurrent_rpcs=1))
    fake = await start_fake_server(tmp_path / "data", quotas=quotas)
    async with grpc.aio.insecure_channel(fake.address) as channel:
        stub = pb_grpc.ImageSearchServiceStub(channel)
        for _ in range(3):  # no keys: no per-key rate
            await stub.ListCollections(pb.ListCollectionsRequest())
        held = stub.ImportItems()
        await wait_until(lambda: quotas.running == 1)
        assert reason(await refused(stub.ListCollections(pb.ListCollectionsRequest())))[0] == "SERVER_BUSY"
        held.cancel()
        await wait_until(lambda: quotas.running == 0)
        await stub.ListCollections(pb.ListCollectionsRequest())
    await fake.stop()


@SESSION_LOOP
async def test_collection_cap(tmp_path: Path) -> None:
    fake = await start_fake_server(tmp_path / "data", max_collections=2)
    async with grpc.aio.insecure_channel(fake.address) as channel:
        stub = pb_grpc.ImageSearchServiceStub(channel)
        for name in ("c1", "c2"):
            await stub.CreateCollection(pb.CreateCollectionRequest(collection_id=name))
        error = await refused(stub.CreateCollection(pb.CreateCollectionRequest(collection_id="c3")))
        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert reason(error) == ("COLLECTION_LIMIT_REACHED", {"limit": "2"})
        await stub.DeleteCollection(pb.DeleteCollectionRequest(name="collections/c1"))
        await stub.CreateCollection(pb.CreateCollectionRequest(collection_id="c3"))
    await fake.stop()


@SESSION_LOOP
async def test_audit_lines(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store, keys = make_keys(tmp_path)
    fake = await start_fake_server(tmp_path / "data", keys=store, audit=AuditLog())
    caplog.set_level(logging.INFO, logger="imagesearch.audit")
    image = pb.Image(content=corel_path(7).read_bytes())
    async with grpc.aio.insecure_channel(fake.address) as channel:
        stub = pb_grpc.ImageSearchServiceStub(channel)
        await stub.CreateCollection(pb.CreateCollectionRequest(collection_id="audited"), metadata=bearer(keys["a"]))
        await stub.GetCollection(pb.GetCollectionRequest(name="collections/audited"), metadata=bearer(keys["a"]))
        call = stub.ImportItems(metadata=bearer(keys["a"]))
        for item in ("i1", "i2"):
            await call.write(pb.ImportItemsRequest(request=pb.CreateItemRequest(
                parent="collections/audited", item_id=item, image=image)))
        await call.done_writing()
        assert len([r async for r in call]) == 2
        await refused(stub.DeleteCollection(pb.DeleteCollectionRequest(name="collections/audited"),
                                            metadata=bearer(keys["reader"])))
        await refused(stub.DeleteCollection(pb.DeleteCollectionRequest(name="collections/audited\nforged line")))
        await refused(stub.DeleteItem(pb.DeleteItemRequest(name="collections/audited/items/nope"),
                                      metadata=bearer(keys["b"])))
    await fake.stop()
    lines = [r.getMessage() for r in caplog.records if r.name == "imagesearch.audit"]
    sha_a = hash_key(keys["a"])[:12]
    expected = [
        ("/CreateCollection", '"collections/audited"', "requests=1", "outcome=OK", "key=a", f"key_id={sha_a}"),
        ("/ImportItems", '"collections/audited"', "requests=2", "outcome=OK", "key=a"),
        ("/DeleteCollection", "outcome=PERMISSION_DENIED", "key=reader"),
        ("/DeleteCollection", '"collections/audited\\nforged line"', "outcome=UNAUTHENTICATED", "key=- key_id=-"),
        ("/DeleteItem", "outcome=NOT_FOUND", "key=b"),
    ]
    assert len(lines) == len(expected), lines  # GetCollection is a read: no line
    for line, parts in zip(lines, expected):
        assert line.startswith("audit method=/imagesearch.v1.ImageSearchService"), line
        assert all(part in line for part in parts), (line, parts)
        assert "\n" not in line and "peer=ipv" in line
        assert not any(key in line or key[4:] in line for key in keys.values())


def test_mutating_names() -> None:
    for name in ("CreateItem", "ImportItems", "UpdateCollection", "DeleteCollection", "BatchDeleteItems",
                 "PurgeItems", "RevokeApiKey", "CreateApiKey"):
        assert mutating(name), name
    for name in ("GetItem", "ListItems", "SearchItems", "CountItems", "BatchGetItems", "FindDuplicates",
                 "ModerateImage", "DetectFaces", "ReadImageText"):
        assert not mutating(name), name
