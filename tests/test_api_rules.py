"""Handler rules of the v1 API, checked in milliseconds: the real handlers and the real
embedded store, with fake encoders (tests/api_fakes.py) instead of Triton."""

from __future__ import annotations

import asyncio
import io

import grpc
import pytest
from google.protobuf import field_mask_pb2, struct_pb2
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from imagesearch_client.v1 import imagesearch_pb2 as pb
from imagesearch_client.v1 import imagesearch_pb2_grpc as pb_grpc
from PIL import Image

from api_fakes import FakeServer, start_fake_server
from conftest import corel_path

pytestmark = pytest.mark.asyncio(loop_scope="session")


def jpeg(color=(120, 160, 200), size=(64, 48)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "JPEG")
    return buffer.getvalue()


def reason(error: grpc.aio.AioRpcError) -> tuple[str, dict]:
    """The ErrorInfo reason and metadata of a failed call."""
    status = rpc_status.from_call(error)
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            assert info.domain == "imagesearch.v1"
            return info.reason, dict(info.metadata)
    raise AssertionError(f"no ErrorInfo in {status}")


def field_violations(error: grpc.aio.AioRpcError) -> list[str]:
    status = rpc_status.from_call(error)
    fields = []
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            fields += [v.field for v in bad.field_violations]
    return fields


@pytest.fixture(scope="module")
async def fake(tmp_path_factory) -> FakeServer:
    server = await start_fake_server(tmp_path_factory.mktemp("fake"))
    yield server
    await server.stop()


@pytest.fixture(scope="module")
async def stub(fake: FakeServer):
    channel = grpc.aio.insecure_channel(fake.address)
    yield pb_grpc.ImageSearchServiceStub(channel)
    await channel.close()


async def make_collection(stub, collection_id: str, **fields) -> pb.Collection:
    return await stub.CreateCollection(
        pb.CreateCollectionRequest(collection_id=collection_id, collection=pb.Collection(**fields))
    )


async def add(stub, collection_id: str, item_id: str, image: bytes | None = None, **metadata) -> pb.Item:
    request = pb.CreateItemRequest(
        parent=f"collections/{collection_id}", item_id=item_id,
        image=pb.Image(content=image or corel_path(len(item_id) * 37 % 1000).read_bytes()),
        item=pb.Item(metadata=metadata), duplicate_policy=pb.DUPLICATE_POLICY_IGNORE,
    )
    return await stub.CreateItem(request)


async def test_item_ids_with_slashes_and_spaces_round_trip_through_names(stub) -> None:
    await make_collection(stub, "names")
    created = await add(stub, "names", "shoes/red 1", image=corel_path(3).read_bytes(), sku="A1")
    assert created.name == "collections/names/items/shoes%2Fred%201"
    assert created.item_id == "shoes/red 1"
    got = await stub.GetItem(pb.GetItemRequest(name=created.name))
    assert got.item_id == "shoes/red 1" and got.metadata["sku"] == "A1"
    for bad in ("names/items/x", "collections/names/things/x", "collections/names/items/", "collections//items/x"):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.GetItem(pb.GetItemRequest(name=bad))
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert reason(caught.value)[0] == "RESOURCE_NAME_INVALID"
        assert field_violations(caught.value) == ["name"]


async def test_list_collections_pages_never_repeat_while_collections_are_added(stub) -> None:
    for i in range(5):
        await make_collection(stub, f"page-{i}")
    seen, token, added = [], "", False
    while True:
        page = await stub.ListCollections(pb.ListCollectionsRequest(page_size=2, page_token=token))
        seen += [c.name for c in page.collections]
        if not added:  # one behind the cursor, one ahead of it
            await make_collection(stub, "a-page")
            await make_collection(stub, "zz-page")
            added = True
        if not page.next_page_token:
            break
        token = page.next_page_token
    assert len(seen) == len(set(seen))
    assert "collections/zz-page" in seen and "collections/a-page" not in seen
    assert [s for s in seen if s.startswith("collections/page-")] == [f"collections/page-{i}" for i in range(5)]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.ListCollections(pb.ListCollectionsRequest(page_token="not-a-token"))
    assert reason(caught.value)[0] == "PAGE_TOKEN_INVALID"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.ListCollections(pb.ListCollectionsRequest(page_size=1001))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT and field_violations(caught.value) == ["page_size"]


def match(key: str, keyword: str) -> pb.Filter:
    return pb.Filter(must=[pb.Condition(match=pb.MatchCondition(key=key, keyword=keyword))])


async def test_list_items_pages_filters_and_survives_inserts(stub) -> None:
    await make_collection(stub, "listing")
    for i in range(20):
        await add(stub, "listing", f"item-{i}", image=corel_path(i).read_bytes(), tenant="a" if i % 2 else "b")
    seen, token, extra = [], "", 0
    while True:
        page = await stub.ListItems(pb.ListItemsRequest(parent="collections/listing", page_size=6, page_token=token))
        seen += [item.item_id for item in page.items]
        await add(stub, "listing", f"late-{extra}", image=corel_path(500 + extra).read_bytes(), tenant="c")
        extra += 1
        if not page.next_page_token:
            break
        token = page.next_page_token
    assert len(seen) == len(set(seen)), "a page repeated an item"
    assert {f"item-{i}" for i in range(20)} <= set(seen)
    only_a = await stub.ListItems(pb.ListItemsRequest(parent="collections/listing", filter=match("tenant", "a")))
    assert sorted(i.item_id for i in only_a.items) == sorted(f"item-{i}" for i in range(1, 20, 2))
    count = await stub.CountItems(pb.CountItemsRequest(parent="collections/listing", filter=match("tenant", "b")))
    assert count.item_count == 10
    first = await stub.ListItems(pb.ListItemsRequest(parent="collections/listing", page_size=3))
    with pytest.raises(grpc.aio.AioRpcError) as caught:  # same token, another filter
        await stub.ListItems(pb.ListItemsRequest(
            parent="collections/listing", page_token=first.next_page_token, filter=match("tenant", "a")))
    assert reason(caught.value)[0] == "PAGE_TOKEN_INVALID"


async def test_update_item_masks_change_metadata_but_not_the_vectors(stub) -> None:
    await make_collection(stub, "updates")
    item = await add(stub, "updates", "u1", image=corel_path(10).read_bytes(), color="red", size=3)
    await add(stub, "updates", "u2", image=corel_path(11).read_bytes())
    before = [h async for h in stub.SearchItems(pb.SearchItemsRequest(parent="collections/updates", item=item.name))]

    def update(mask: list[str], **metadata):
        return stub.UpdateItem(pb.UpdateItemRequest(
            item=pb.Item(name=item.name, metadata=metadata), update_mask=field_mask_pb2.FieldMask(paths=mask)))

    assert dict((await update(["metadata.color"], color="blue")).metadata) == {"color": "blue", "size": 3}
    assert dict((await update(["metadata.size"])).metadata) == {"color": "blue"}
    assert dict((await update([], brand="x")).metadata) == {"brand": "x"}
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await update(["item_id"], brand="y")
    assert field_violations(caught.value) == ["update_mask"]
    after = [h async for h in stub.SearchItems(pb.SearchItemsRequest(parent="collections/updates", item=item.name))]
    assert [(h.item.item_id, h.similarity) for h in after] == [(h.item.item_id, h.similarity) for h in before]
    assert (await stub.GetItem(pb.GetItemRequest(name=item.name))).metadata["brand"] == "x"


async def test_purge_counts_first_and_deletes_only_with_force(stub) -> None:
    await make_collection(stub, "purge")
    for i in range(12):
        await add(stub, "purge", f"p{i}", image=corel_path(100 + i).read_bytes(), tenant="gone" if i < 5 else "kept")
    dry = await stub.PurgeItems(pb.PurgeItemsRequest(parent="collections/purge", filter=match("tenant", "gone")))
    assert dry.purge_count == 5 and len(dry.purge_sample) == 5
    assert (await stub.CountItems(pb.CountItemsRequest(parent="collections/purge"))).item_count == 12
    done = await stub.PurgeItems(pb.PurgeItemsRequest(
        parent="collections/purge", filter=match("tenant", "gone"), force=True))
    assert done.purge_count == 5 and sorted(done.purge_sample) == sorted(dry.purge_sample)
    assert (await stub.CountItems(pb.CountItemsRequest(parent="collections/purge"))).item_count == 7
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.PurgeItems(pb.PurgeItemsRequest(parent="collections/purge", force=True))
    assert field_violations(caught.value) == ["filter"]


async def test_batch_get_fails_on_missing_items_unless_allowed(stub) -> None:
    await make_collection(stub, "batch")
    present = await add(stub, "batch", "here", image=corel_path(200).read_bytes())
    names = [present.name, "collections/batch/items/absent"]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.BatchGetItems(pb.BatchGetItemsRequest(parent="collections/batch", names=names))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert reason(caught.value) == ("ITEM_NOT_FOUND", {"collection": "batch", "item": "absent"})
    allowed = await stub.BatchGetItems(pb.BatchGetItemsRequest(parent="collections/batch", names=names,
                                                               allow_missing=True))
    assert [i.item_id for i in allowed.items] == ["here"] and list(allowed.missing_names) == [names[1]]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.BatchGetItems(pb.BatchGetItemsRequest(parent="collections/batch",
                                                         names=["collections/other/items/x"]))
    assert field_violations(caught.value) == ["names[0]"]
    deleted = await stub.BatchDeleteItems(pb.BatchDeleteItemsRequest(parent="collections/batch", names=names))
    assert deleted.deleted_count == 1
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.DeleteItem(pb.DeleteItemRequest(name=present.name))
    assert reason(caught.value)[0] == "ITEM_NOT_FOUND"
    await stub.DeleteItem(pb.DeleteItemRequest(name=present.name, allow_missing=True))


async def test_search_by_item_at_the_top_k_limit(stub) -> None:
    """top_k=1000 on a stored-item query asked the engine for 1001 hits: INTERNAL before v1."""
    await make_collection(stub, "more")
    first = await add(stub, "more", "m0", image=corel_path(300).read_bytes())
    for i in range(1, 4):
        await add(stub, "more", f"m{i}", image=corel_path(300 + i).read_bytes())
    request = pb.SearchItemsRequest(parent="collections/more", item=first.name, top_k=1000)
    hits = [h async for h in stub.SearchItems(request)]
    assert [h.rank for h in hits] == [1, 2, 3] and first.name not in [h.item.name for h in hits]
    request.include_query_item = True
    hits = [h async for h in stub.SearchItems(request)]
    assert hits[0].item.name == first.name and hits[0].score == pytest.approx(1.0, abs=1e-5)
    assert all(-1.0 <= h.similarity <= 1.0 and 0.0 <= h.score <= 1.0 for h in hits)


async def test_metadata_with_nan_or_infinity_is_invalid_argument(stub) -> None:
    await make_collection(stub, "nan")
    for value in (float("nan"), float("inf"), float("-inf")):
        metadata = struct_pb2.Struct()
        metadata.update({"weight": value})
        request = pb.CreateItemRequest(parent="collections/nan", image=pb.Image(content=jpeg()),
                                       item=pb.Item(metadata=metadata))
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.CreateItem(request)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert field_violations(caught.value) == ["item.metadata"]


async def test_datetime_range_outside_years_1_to_9999_is_invalid_argument(stub) -> None:
    await make_collection(stub, "dates")
    for seconds in (253402300800, -62135596801, 10**15):
        condition = pb.Condition(datetime_range=pb.DatetimeRangeCondition(key="taken", gte={"seconds": seconds}))
        request = pb.SearchItemsRequest(parent="collections/dates", text="x", filter=pb.Filter(must=[condition]))
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            [h async for h in stub.SearchItems(request)]
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert field_violations(caught.value) == ["filter.must[0].datetime_range.gte"]


async def test_update_collection_description_and_nsfw_limit(stub) -> None:
    created = await make_collection(stub, "policy", description="first")
    assert created.description == "first" and not created.HasField("max_nsfw_score")
    red = jpeg((250, 10, 10))
    await add(stub, "policy", "red-before", image=red)
    updated = await stub.UpdateCollection(pb.UpdateCollectionRequest(
        collection=pb.Collection(name="collections/policy", description="second", max_nsfw_score=0.5)))
    assert updated.description == "second" and updated.max_nsfw_score == pytest.approx(0.5)
    got = await stub.GetCollection(pb.GetCollectionRequest(name="collections/policy"))
    assert got.description == "second" and got.item_count == 1
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await add(stub, "policy", "red-after", image=red)
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert reason(caught.value)[0] == "NSFW_SCORE_TOO_HIGH"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.UpdateCollection(pb.UpdateCollectionRequest(
            collection=pb.Collection(name="collections/policy", model_set="clip"),
            update_mask=field_mask_pb2.FieldMask(paths=["model_set"])))
    assert field_violations(caught.value) == ["update_mask"]


async def test_import_errors_carry_the_same_details_as_create(stub) -> None:
    await make_collection(stub, "imports")
    requests = [
        pb.ImportItemsRequest(request=pb.CreateItemRequest(
            parent="collections/imports", item_id="good", image=pb.Image(content=corel_path(400).read_bytes()))),
        pb.ImportItemsRequest(request=pb.CreateItemRequest(
            parent="collections/imports", item_id="empty", image=pb.Image(content=b""))),
    ]
    responses = sorted([r async for r in stub.ImportItems(iter(requests))], key=lambda r: r.index)
    assert responses[0].item.item_id == "good" and not responses[0].HasField("error")
    error = responses[1].error
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert responses[1].item.name == "collections/imports/items/empty"
    kinds = {d.TypeName() for d in error.details}
    assert kinds == {"google.rpc.ErrorInfo", "google.rpc.BadRequest"}
    info = error_details_pb2.ErrorInfo()
    next(d for d in error.details if d.Is(info.DESCRIPTOR)).Unpack(info)
    assert info.reason == "IMAGE_EMPTY"


async def test_import_stops_taking_requests_from_a_client_that_does_not_read(fake: FakeServer, stub) -> None:
    """Before v1 the stream's result queue was unbounded and freed its slots before results
    were read: a client that never read made the server store (and buffer) everything."""
    await make_collection(stub, "reader", skip_nsfw_scoring=True)
    big = {"note": "x" * 30_000}  # 30 KB responses fill gRPC's flow-control window fast
    sent = 120
    channel = grpc.aio.insecure_channel(fake.address, options=[("grpc.http2.bdp_probe", 0)])
    call = pb_grpc.ImageSearchServiceStub(channel).ImportItems()

    async def write_all() -> None:
        for i in range(sent):
            await call.write(pb.ImportItemsRequest(request=pb.CreateItemRequest(
                parent="collections/reader", item_id=f"r{i}", image=pb.Image(content=jpeg((i, 100, 100))),
                item=pb.Item(metadata=big), duplicate_policy=pb.DUPLICATE_POLICY_IGNORE)))

    writer = asyncio.create_task(write_all())
    await asyncio.sleep(3.0)  # the fake encoders store hundreds of items a second
    stored = (await stub.CountItems(pb.CountItemsRequest(parent="collections/reader"))).item_count
    writer.cancel()
    call.cancel()
    await channel.close()
    assert 0 < stored < sent // 2, f"the server stored {stored} of {sent} items for a client that read nothing"
