"""The asyncio client: the blocking client's methods, with the same names, parameters and
defaults (a test holds them congruent), as coroutines; the ones that yield are async
generators. Errors are grpc.aio.AioRpcError, a grpc.RpcError that
imagesearch_client.errors reads as well.
"""

from __future__ import annotations

import asyncio
import time
from typing import AsyncIterable, AsyncIterator, Iterable

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc


from imagesearch_client.async_admin_client import AsyncAdminClient
from imagesearch_client import auth, connection, messages
from imagesearch_client.connection import Tls
from imagesearch_client.client import CHANNEL_OPTIONS, DEFAULT_TIMEOUT_S, HEALTH_POLL_S
from imagesearch_client.names import collection_name, item_name
from imagesearch_client.people import AsyncPeopleMethods
from imagesearch_client.types import (
    Collection, DuplicateGroup, Face, Hit, ImportOutcome, InsertItem, Item, ItemResult, Moderation, Page, PurgeResult,
    TextLine,
)
from imagesearch_client.v1 import imagesearch_pb2 as pb
from imagesearch_client.v1 import imagesearch_pb2_grpc as pb_grpc


class AsyncImageSearchClient(AsyncPeopleMethods):
    """asyncio client of imagesearch.v1. Use with `async with`, or await close(). The
    people methods (list_people, name_person, ...) are in imagesearch_client.people."""

    def __init__(
        self, target: str = "127.0.0.1:50051", timeout: float = DEFAULT_TIMEOUT_S, api_key: str | None = None,
        tls: Tls | bool | None = None,
    ) -> None:
        """`api_key`: sent as `authorization: Bearer` metadata on every call (docs/security.md).
        `tls`: None or False, plaintext; True, TLS trusting the system's CAs; a `Tls`, TLS with
        the CA, client certificate (mutual TLS) and server name it gives."""
        interceptors = auth.aio_interceptors(api_key) if api_key else None
        self._channel = connection.aio_channel(target, connection.resolve_tls(tls), CHANNEL_OPTIONS, interceptors)
        self._stub = pb_grpc.ImageSearchServiceStub(self._channel)
        self._health = health_pb2_grpc.HealthStub(self._channel)
        self.timeout = timeout
        # The administration calls (admin.proto) on the same channel, key and timeout.
        self.admin = AsyncAdminClient(self._channel, timeout)

    async def __aenter__(self) -> "AsyncImageSearchClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Closes the channel."""
        await self._channel.close()

    async def wait_serving(self, timeout: float = 300.0) -> None:
        """Waits until the server's health check says SERVING; TimeoutError after `timeout` s."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                reply = await self._health.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass  # not listening yet, or starting
            if time.monotonic() > deadline:
                raise TimeoutError(f"server not SERVING after {timeout:.0f} s")
            await asyncio.sleep(HEALTH_POLL_S)

    # Collections

    async def create_collection(
        self, collection_id: str, model_set: str = "", max_nsfw_score: float | None = None,
        skip_nsfw_scoring: bool = False, description: str = "", keep_originals: bool = False,
        faces_enabled: bool = False, ocr_enabled: bool = False,
    ) -> Collection:
        """Creates an empty collection; see ImageSearchClient.create_collection."""
        request = messages.create_collection(
            collection_id, model_set, max_nsfw_score, skip_nsfw_scoring, description, keep_originals, faces_enabled,
            ocr_enabled,
        )
        return Collection.from_proto(await self._stub.CreateCollection(request, timeout=self.timeout))

    async def get_collection(self, collection: str) -> Collection:
        """Describes one collection."""
        request = pb.GetCollectionRequest(name=collection_name(collection))
        return Collection.from_proto(await self._stub.GetCollection(request, timeout=self.timeout))

    async def list_collections(self, page_size: int | None = None) -> AsyncIterator[Collection]:
        """Every collection, sorted by ID, fetching pages as it goes."""
        token = ""
        while True:
            page = await self.list_collections_page(page_size, token)
            for collection in page.items:
                yield collection
            if not (token := page.next_page_token):
                return

    async def list_collections_page(self, page_size: int | None = None, page_token: str = "") -> Page[Collection]:
        """One page of collections (page_size: the server's default when None)."""
        request = messages.list_collections(page_size, page_token)
        reply = await self._stub.ListCollections(request, timeout=self.timeout)
        return Page([Collection.from_proto(c) for c in reply.collections], reply.next_page_token)

    async def update_collection(
        self, collection: str, description: str | None = None, max_nsfw_score: float | None = None,
        clear_max_nsfw_score: bool = False,
    ) -> Collection:
        """Changes the fields given (None: unchanged); clear_max_nsfw_score removes the cap."""
        request = messages.update_collection(collection, description, max_nsfw_score, clear_max_nsfw_score)
        return Collection.from_proto(await self._stub.UpdateCollection(request, timeout=self.timeout))

    async def delete_collection(self, collection: str) -> None:
        """Deletes a collection and its items."""
        request = pb.DeleteCollectionRequest(name=collection_name(collection))
        await self._stub.DeleteCollection(request, timeout=self.timeout)

    # Items

    async def create_item(self, collection: str, item: InsertItem) -> ItemResult:
        """Stores one image (replacing an item with its ID); the stored item and any duplicate found."""
        return ItemResult.from_proto(await self._stub.CreateItem(item.to_proto(collection), timeout=self.timeout))

    async def import_items(
        self, collection: str, items: Iterable[InsertItem] | AsyncIterable[InsertItem], timeout: float | None = None
    ) -> AsyncIterator[ImportOutcome]:
        """Streams items (an iterable or async iterable) in; yields one outcome per item as
        the server finishes it. `timeout` bounds the whole stream (None: no deadline)."""

        async def requests() -> AsyncIterator[pb.ImportItemsRequest]:
            if isinstance(items, AsyncIterable):
                async for item in items:
                    yield messages.import_request(collection, item)
            else:
                for item in items:
                    yield messages.import_request(collection, item)

        async for reply in self._stub.ImportItems(requests(), timeout=timeout):
            yield ImportOutcome.from_proto(reply)

    async def get_item(self, collection: str, item_id: str) -> Item:
        """Reads one item; NOT_FOUND (ITEM_NOT_FOUND) when it does not exist."""
        request = pb.GetItemRequest(name=item_name(collection, item_id))
        return Item.from_proto(await self._stub.GetItem(request, timeout=self.timeout))

    async def list_items(
        self, collection: str, filter: pb.Filter | None = None, page_size: int | None = None
    ) -> AsyncIterator[Item]:
        """Every item (passing `filter`) in a stable order, fetching pages as it goes."""
        token = ""
        while True:
            page = await self.list_items_page(collection, page_size, token, filter)
            for item in page.items:
                yield item
            if not (token := page.next_page_token):
                return

    async def list_items_page(
        self, collection: str, page_size: int | None = None, page_token: str = "", filter: pb.Filter | None = None
    ) -> Page[Item]:
        """One page of items; the filter must be the same on every page."""
        request = messages.list_items(collection, page_size, page_token, filter)
        reply = await self._stub.ListItems(request, timeout=self.timeout)
        return Page([Item.from_proto(i) for i in reply.items], reply.next_page_token)

    async def batch_get_items(
        self, collection: str, item_ids: Iterable[str], allow_missing: bool = False
    ) -> list[Item]:
        """The items, in the order asked; with allow_missing those that exist, else NOT_FOUND if any is missing."""
        request = messages.batch_get_items(collection, item_ids, allow_missing)
        return [Item.from_proto(i) for i in (await self._stub.BatchGetItems(request, timeout=self.timeout)).items]

    async def update_item(
        self, collection: str, item_id: str, metadata: dict, keys: list[str] | None = None
    ) -> Item:
        """Replaces the item's metadata, or (with `keys`) sets those top-level keys from
        `metadata` and removes the ones it lacks; the image is not re-encoded."""
        request = messages.update_item(collection, item_id, metadata, keys)
        return Item.from_proto(await self._stub.UpdateItem(request, timeout=self.timeout))

    async def delete_item(self, collection: str, item_id: str, allow_missing: bool = False) -> None:
        """Deletes one item (NOT_FOUND when missing, unless allow_missing)."""
        request = pb.DeleteItemRequest(name=item_name(collection, item_id), allow_missing=allow_missing)
        await self._stub.DeleteItem(request, timeout=self.timeout)

    async def batch_delete_items(self, collection: str, item_ids: Iterable[str]) -> int:
        """Deletes items; returns how many existed."""
        request = messages.batch_delete_items(collection, item_ids)
        return (await self._stub.BatchDeleteItems(request, timeout=self.timeout)).deleted_count

    async def purge_items(self, collection: str, filter: pb.Filter, force: bool = False) -> PurgeResult:
        """Deletes every item passing `filter`; without force only counts them."""
        reply = await self._stub.PurgeItems(messages.purge_items(collection, filter, force), timeout=self.timeout)
        return PurgeResult.from_proto(reply)

    async def count_items(self, collection: str, filter: pb.Filter | None = None) -> int:
        """Number of items (passing `filter`)."""
        return (await self._stub.CountItems(messages.count_items(collection, filter), timeout=self.timeout)).item_count

    # Search

    async def search(
        self, collection: str, image: bytes | None = None, image_url: str | None = None, top_k: int | None = None,
        min_score: float | None = None, filter: pb.Filter | None = None, max_nsfw_score: float | None = None,
        model_set: str = "", image_text_filter: str | None = None,
    ) -> list[Hit]:
        """The stored images most similar to `image` (or the image at `image_url`), best first."""
        request = messages.search_image(
            collection, image, image_url, top_k=top_k, min_score=min_score, filter=filter,
            max_nsfw_score=max_nsfw_score, model_set=model_set, image_text_filter=image_text_filter,
        )
        return await self._hits(request)

    async def search_copies(
        self, collection: str, image: bytes | None = None, image_url: str | None = None, top_k: int | None = None,
        min_score: float | None = None, filter: pb.Filter | None = None, model_set: str = "",
    ) -> list[Hit]:
        """Stored copies of `image`, also rotated by 90/180/270 degrees or mirrored, best first
        (SEARCH_MODE_COPIES: ~4x the cost of `search`); a hit with score >= 0.9 is a copy."""
        request = messages.search_image(
            collection, image, image_url, top_k=top_k, min_score=min_score, filter=filter, max_nsfw_score=None,
            model_set=model_set, mode=pb.SEARCH_MODE_COPIES,
        )
        return await self._hits(request)

    async def search_text(
        self, collection: str, text: str, top_k: int | None = None, min_score: float | None = None,
        filter: pb.Filter | None = None, max_nsfw_score: float | None = None, model_set: str = "",
        image_text_filter: str | None = None,
    ) -> list[Hit]:
        """The stored images that best match the description `text`, best first."""
        request = messages.search(
            collection, text=text, top_k=top_k, min_score=min_score, filter=filter,
            max_nsfw_score=max_nsfw_score, model_set=model_set, image_text_filter=image_text_filter,
        )
        return await self._hits(request)

    async def search_similar(
        self, collection: str, item_id: str, include_query_item: bool = False, top_k: int | None = None,
        min_score: float | None = None, filter: pb.Filter | None = None, max_nsfw_score: float | None = None,
        model_set: str = "", image_text_filter: str | None = None,
    ) -> list[Hit]:
        """The stored images most similar to the stored item `item_id` ("more like this")."""
        request = messages.search_similar(
            collection, item_id, include_query_item, top_k=top_k, min_score=min_score, filter=filter,
            max_nsfw_score=max_nsfw_score, model_set=model_set, image_text_filter=image_text_filter,
        )
        return await self._hits(request)

    async def search_faces(
        self, collection: str, image: bytes | None = None, image_url: str | None = None, face_index: int | None = None,
        top_k: int | None = None, min_score: float | None = None,
        face_box: tuple[float, float, float, float] | None = None, face: str | None = None,
    ) -> list[Hit]:
        """The items showing the people of the faces in `image` (or only face `face_index`, or
        the face overlapping `face_box`), best first per query face (Hit.query_face_index,
        Hit.face_box); or, with `face` (a stored face: names.face_name(collection, hit.id, hit.face_index)),
        the items showing that face's person. min_score defaults to the server's "same person"
        line, 0.5. Needs a collection with faces_enabled."""
        request = messages.search_faces(
            collection, image, image_url, face_index, face_box, face, top_k=top_k, min_score=min_score, filter=None,
            max_nsfw_score=None, model_set="",
        )
        return await self._hits(request)

    async def search_image_text(
        self, collection: str, text: str, phrase: bool = False, top_k: int | None = None,
        min_score: float | None = None, filter: pb.Filter | None = None,
    ) -> list[Hit]:
        """The items whose images show `text` (every word, or with `phrase` the words in
        order on one line), best first, each with its matched lines (Hit.matched_lines);
        min_score defaults to the server's 0.5. Needs a collection with ocr_enabled."""
        request = messages.search_image_text(
            collection, text, phrase, top_k=top_k, min_score=min_score, filter=filter, max_nsfw_score=None,
            model_set="",
        )
        return await self._hits(request)

    async def read_image_text(self, image: bytes | None = None, image_url: str | None = None) -> list[TextLine]:
        """The lines of text in an image (nothing stored), in reading order."""
        reply = await self._stub.ReadImageText(messages.read_image_text(image, image_url), timeout=self.timeout)
        return [TextLine.from_proto(line) for line in reply.lines]

    async def detect_faces(self, image: bytes | None = None, image_url: str | None = None) -> list[Face]:
        """The faces in an image (nothing stored), best detector score first."""
        reply = await self._stub.DetectFaces(messages.detect_faces(image, image_url), timeout=self.timeout)
        return [Face.from_proto(face) for face in reply.faces]

    async def _hits(self, request: pb.SearchItemsRequest) -> list[Hit]:
        return [Hit.from_proto(h) async for h in self._stub.SearchItems(request, timeout=self.timeout)]

    async def find_duplicates(
        self, collection: str, threshold: float | None = None, timeout: float | None = None
    ) -> AsyncIterator[DuplicateGroup]:
        """Groups of near-duplicate and exact-duplicate items, each as soon as the server
        completes it; `timeout` bounds the whole audit (None: the client's timeout)."""
        request = messages.find_duplicates(collection, threshold)
        async for group in self._stub.FindDuplicates(request, timeout=timeout or self.timeout):
            yield DuplicateGroup.from_proto(group)

    # Images

    async def moderate_image(self, image: bytes | None = None, image_url: str | None = None) -> Moderation:
        """The NSFW score and label of an image (bytes or URL), which is not stored."""
        reply = await self._stub.ModerateImage(messages.moderate_image(image, image_url), timeout=self.timeout)
        return Moderation.from_proto(reply)
