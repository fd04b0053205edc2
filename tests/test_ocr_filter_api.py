"""SearchItemsRequest.image_text_filter: the OCR text condition restricting image, text and
stored-item searches, through the real handlers and the real embedded store (the n-gram
filter runs in qdrant-edge), in milliseconds. The OCR model is a stand-in that returns the
lines registered for each image (tests/test_api_ocr.py reads real images with the real
model; the filter's rules do not depend on how the lines were read)."""

from __future__ import annotations

import hashlib
import io

import grpc
from google.protobuf import struct_pb2
import pytest
from imagesearch_client.v1 import imagesearch_pb2 as pb
from imagesearch_client.v1 import imagesearch_pb2_grpc as pb_grpc
from PIL import Image

from imagesearch_client import AsyncImageSearchClient

from api_fakes import FakeFetcher, FakeImageEncoder, FakeNsfw, served_offline
from imagesearch.api.service import ImageSearchService, ServiceLimits
from imagesearch.ocr.lines import OcrLine
from imagesearch.store.edge import EdgeStore
from test_api_rules import reason

pytestmark = pytest.mark.asyncio(loop_scope="session")
BOX = ((1.0, 1.0), (40.0, 1.0), (40.0, 12.0), (1.0, 12.0))


def photo(shade: int) -> bytes:
    """A 64x48 image with a gradient; nearby shades give nearby fake vectors."""
    image = Image.new("RGB", (64, 48))
    image.putdata([((x * 4 + shade) % 256, (y * 5) % 256, shade) for y in range(48) for x in range(64)])
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


class FakeOcr:
    """Stands in for inference.ocr.OcrReader: the lines registered for an image's bytes."""

    def __init__(self) -> None:
        self.lines: dict[str, tuple[OcrLine, ...]] = {}

    def register(self, image: bytes, *texts: str) -> bytes:
        self.lines[hashlib.sha256(image).hexdigest()] = tuple(OcrLine(t, 0.95, BOX) for t in texts)
        return image

    async def read(self, image: bytes) -> tuple[OcrLine, ...]:
        return self.lines.get(hashlib.sha256(image).hexdigest(), ())


# Shelf "a" holds the jams and the honey, "b" the tea.
SHELVES = {"jam-organic": "a", "jam-plain": "a", "honey-organic": "a", "tea-organic": "b"}
# id -> (shade, lines): "organic" on three photos, a typo'd reading on one, none on the rest.
PHOTOS = {
    "jam-organic": (10, ("ORGANIC", "Strawberry jam")), "jam-plain": (12, ("Strawberry jam",)),
    "tea-organic": (200, ("0rganic green tea",)), "honey-organic": (14, ("Organlc honey 250g",)),
    "sky": (11, ()), "plate": (100, ("RE16 TGK",)),
}


@pytest.fixture(scope="module")
async def stub(tmp_path_factory):
    store = EdgeStore(tmp_path_factory.mktemp("ocr-filter"))
    ocr = FakeOcr()
    service = ImageSearchService(
        store=store, model_sets={"offline": served_offline(FakeImageEncoder())}, default_model_set="offline",
        limits=ServiceLimits(max_image_pixels=40_000_000, insert_concurrency=4), fetcher=FakeFetcher(),
        nsfw=FakeNsfw(), ocr=ocr,
    )
    server = grpc.aio.server()
    pb_grpc.add_ImageSearchServiceServicer_to_server(service, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    api = pb_grpc.ImageSearchServiceStub(channel)
    api.address = f"127.0.0.1:{port}"
    for name, ocr_enabled in (("shop", True), ("plain", False)):
        await api.CreateCollection(pb.CreateCollectionRequest(
            collection_id=name, collection=pb.Collection(ocr_enabled=ocr_enabled)))
    for item_id, (shade, texts) in PHOTOS.items():
        await api.CreateItem(pb.CreateItemRequest(
            parent="collections/shop", item_id=item_id,
            item=pb.Item(metadata=struct_pb2.Struct(fields={"shelf": struct_pb2.Value(
                string_value=SHELVES.get(item_id, "c"))})),
            image=pb.Image(content=ocr.register(photo(shade), *texts))))
    yield api
    await channel.close()
    await server.stop(None)
    await store.close()


@pytest.fixture(scope="module")
def client_address(stub) -> str:
    return stub.address


async def ids(api, **request) -> list[str]:
    return [r.item.item_id for r in await collect(api, **request)]


async def collect(api, **request) -> list[pb.SearchItemsResponse]:
    return [r async for r in api.SearchItems(pb.SearchItemsRequest(parent="collections/shop", **request))]


def words(text: str, phrase: bool = False) -> pb.ImageTextQuery:
    return pb.ImageTextQuery(text=text, mode=pb.TEXT_MATCH_MODE_PHRASE if phrase else pb.TEXT_MATCH_MODE_ALL_WORDS)


async def test_image_search_keeps_only_items_whose_text_matches(stub) -> None:
    query = pb.Image(content=photo(10))
    unfiltered = await ids(stub, image=query, top_k=10)
    assert {"jam-plain", "sky"} <= set(unfiltered[:4])  # the nearest include photos without the word
    hits = await collect(stub, image=query, top_k=10, image_text_filter=words("organic"))
    # O/0 and l/i confusions and case: "0rganic" and "Organlc" match; nearest first.
    assert [h.item.item_id for h in hits] == [i for i in unfiltered if i in ("jam-organic", "tea-organic", "honey-organic")]
    assert len(hits) == 3 and [h.rank for h in hits] == [1, 2, 3]
    assert all(h.matched_lines and len(h.matched_lines[0].box) == 4 for h in hits)
    assert hits[0].score == pytest.approx((await collect(stub, image=query, top_k=1))[0].score)


async def test_top_k_and_the_other_query_kinds(stub) -> None:
    assert len(await ids(stub, image=pb.Image(content=photo(10)), top_k=2, image_text_filter=words("organic"))) == 2
    similar = await ids(stub, item="collections/shop/items/jam-plain", image_text_filter=words("organic"))
    assert set(similar) == {"jam-organic", "tea-organic", "honey-organic"}
    text = await ids(stub, text="a jar of jam", image_text_filter=words("strawberry jam", phrase=True))
    assert set(text) == {"jam-organic", "jam-plain"}
    assert await ids(stub, image=pb.Image(content=photo(100)), image_text_filter=words("RE16")) == ["plate"]
    assert await ids(stub, image=pb.Image(content=photo(10)), image_text_filter=words("organic tea")) == ["tea-organic"]
    assert await ids(stub, image=pb.Image(content=photo(10)), image_text_filter=words("zebra")) == []


async def test_the_async_client_passes_the_filter(stub, client_address) -> None:
    client = AsyncImageSearchClient(client_address)
    try:
        hits = await client.search("shop", photo(10), image_text_filter="organic")
        assert {h.id for h in hits} == {"jam-organic", "tea-organic", "honey-organic"}
        assert all(h.matched_lines for h in hits)
        similar = await client.search_similar("shop", "jam-plain", image_text_filter="honey")
        assert [h.id for h in similar] == ["honey-organic"]
    finally:
        await client.close()


async def test_metadata_filter_and_text_filter_together(stub) -> None:
    shelf_a = pb.Filter(must=[pb.Condition(match=pb.MatchCondition(key="shelf", keyword="a"))])
    hits = await ids(stub, image=pb.Image(content=photo(10)), filter=shelf_a, image_text_filter=words("organic"))
    assert set(hits) == {"jam-organic", "honey-organic"}


async def test_bad_filters(stub) -> None:
    image = pb.Image(content=photo(10))
    for text in ("", "  ", "x" * 300):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await collect(stub, image=image, image_text_filter=words(text))
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, text
        assert reason(caught.value)[0] == "FIELD_INVALID" and "1-256 characters" in caught.value.details()
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await collect(stub, image_text=words("organic"), image_text_filter=words("jam"))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "image_text_filter" in caught.value.details()
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        [r async for r in stub.SearchItems(pb.SearchItemsRequest(
            parent="collections/plain", image=image, image_text_filter=words("organic")))]
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert reason(caught.value)[0] == "OCR_NOT_ENABLED" and "ocr_enabled" in caught.value.details()
