"""Blocking and asyncio clients. Every call has a deadline (`timeout`, seconds).

Failures raise grpc.RpcError; `err.code()` and `err.details()` say what went wrong.
"""

from __future__ import annotations

import time
from typing import AsyncIterable, AsyncIterator, Iterable, Iterator

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from imagesearch.v1 import imagesearch_pb2 as pb
from imagesearch.v1 import imagesearch_pb2_grpc as pb_grpc
from imagesearch_client.types import Collection, DuplicateGroup, Hit, InsertItem, InsertOutcome, Item, Moderation

DEFAULT_TIMEOUT_S = 30.0
# Matches the server's default limit, so a 20 MB photo goes through.
MAX_MESSAGE_BYTES = 32 * 1024 * 1024
CHANNEL_OPTIONS = [
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
]


def _search_request(
    collection: str, image: bytes | None, top_k: int | None, min_score: float | None, filter: pb.Filter | None,
    image_url: str | None, max_nsfw_score: float | None = None, model_set: str = "",
) -> pb.SearchRequest:
    if image_url:
        request = pb.SearchRequest(collection=collection, image_url=image_url, filter=filter, model_set=model_set)
    else:
        request = pb.SearchRequest(collection=collection, image=image or b"", filter=filter, model_set=model_set)
    return _with_limits(request, top_k, min_score, max_nsfw_score)


def _search_text_request(
    collection: str, text: str, top_k: int | None, min_score: float | None, model_set: str = "",
    filter: pb.Filter | None = None, max_nsfw_score: float | None = None,
) -> pb.SearchRequest:
    request = pb.SearchRequest(collection=collection, text=text, model_set=model_set, filter=filter)
    return _with_limits(request, top_k, min_score, max_nsfw_score)


def _with_limits(
    request: pb.SearchRequest, top_k: int | None, min_score: float | None, max_nsfw_score: float | None = None
) -> pb.SearchRequest:
    if max_nsfw_score is not None:
        request.max_nsfw_score = max_nsfw_score
    if top_k is not None:
        request.top_k = top_k
    if min_score is not None:
        request.min_score = min_score
    return request


def _search_by_id_request(
    collection: str, item_id: str, top_k: int | None, min_score: float | None, include_self: bool,
    filter: pb.Filter | None = None,
) -> pb.SearchByIdRequest:
    request = pb.SearchByIdRequest(collection=collection, id=item_id, include_self=include_self, filter=filter)
    if top_k is not None:
        request.top_k = top_k
    if min_score is not None:
        request.min_score = min_score
    return request


def _items(response: pb.GetResponse) -> list[Item]:
    return [Item.from_proto(i) for i in response.items]


class ImageSearchClient:
    """Blocking client. Use as a context manager, or call close()."""

    def __init__(self, target: str = "127.0.0.1:50051", timeout: float = DEFAULT_TIMEOUT_S) -> None:
        self._channel = grpc.insecure_channel(target, options=CHANNEL_OPTIONS)
        self._stub = pb_grpc.ImageSearchStub(self._channel)
        self._health = health_pb2_grpc.HealthStub(self._channel)
        self.timeout = timeout

    def __enter__(self) -> "ImageSearchClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Closes the channel."""
        self._channel.close()

    def wait_serving(self, timeout: float = 300.0) -> None:
        """Blocks until the server's health check says SERVING; TimeoutError after `timeout` s."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                reply = self._health.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass  # not listening yet, or starting
            if time.monotonic() > deadline:
                raise TimeoutError(f"server not SERVING after {timeout:.0f} s")
            time.sleep(0.5)

    def create_collection(
        self, name: str, model_set: str = "", max_nsfw_score: float | None = None, skip_nsfw_scoring: bool = False
    ) -> Collection:
        """Creates an empty collection with `model_set` (empty: the server's default); with
        max_nsfw_score, inserts scoring above it are refused; with skip_nsfw_scoring, inserts
        are not scored (faster)."""
        request = pb.CreateCollectionRequest(
            name=name, model_set=model_set, max_nsfw_score=max_nsfw_score, skip_nsfw_scoring=skip_nsfw_scoring
        )
        return Collection.from_proto(self._stub.CreateCollection(request, timeout=self.timeout))

    def moderate(self, image: bytes | None = None, image_url: str | None = None) -> Moderation:
        """The NSFW score and label of an image (bytes or URL), which is not stored."""
        request = pb.ModerateRequest(image_url=image_url) if image_url else pb.ModerateRequest(image_bytes=image or b"")
        return Moderation.from_proto(self._stub.Moderate(request, timeout=self.timeout))

    def get_collection(self, name: str) -> Collection:
        """Describes one collection."""
        return Collection.from_proto(self._stub.GetCollection(pb.GetCollectionRequest(name=name), timeout=self.timeout))

    def list_collections(self) -> list[Collection]:
        """Every collection, sorted by name."""
        response = self._stub.ListCollections(pb.ListCollectionsRequest(), timeout=self.timeout)
        return [Collection.from_proto(c) for c in response.collections]

    def delete_collection(self, name: str) -> None:
        """Deletes a collection and its items."""
        self._stub.DeleteCollection(pb.DeleteCollectionRequest(name=name), timeout=self.timeout)

    def insert(self, collection: str, item: InsertItem) -> str:
        """Inserts one image; returns its id (the existing item's when skipped as a duplicate)."""
        return self._stub.Insert(item.to_proto(collection), timeout=self.timeout).id

    def insert_outcome(self, collection: str, item: InsertItem) -> InsertOutcome:
        """Inserts one image; returns the whole outcome (duplicate found, skipped)."""
        return InsertOutcome.from_proto(self._stub.Insert(item.to_proto(collection), timeout=self.timeout))

    def find_duplicates(
        self, collection: str, threshold: float | None = None, timeout: float | None = None
    ) -> list[DuplicateGroup]:
        """Groups of near-duplicate items in a collection, largest first."""
        request = pb.FindDuplicatesRequest(collection=collection, threshold=threshold)
        return [DuplicateGroup.from_proto(g) for g in self._stub.FindDuplicates(request, timeout=timeout or self.timeout)]

    def insert_stream(
        self, collection: str, items: Iterable[InsertItem], timeout: float | None = None
    ) -> Iterator[InsertOutcome]:
        """Streams items in; yields one outcome per item as the server finishes it."""
        requests = (item.to_proto(collection) for item in items)
        for result in self._stub.InsertStream(requests, timeout=timeout):
            yield InsertOutcome.from_proto(result)

    def search(
        self, collection: str, image: bytes | None = None, top_k: int | None = None, min_score: float | None = None,
        filter: pb.Filter | None = None, image_url: str | None = None, max_nsfw_score: float | None = None,
        model_set: str = "",
    ) -> list[Hit]:
        """The stored images most similar to `image` (or the image at `image_url`, which the
        server downloads), best first; `filter`: see imagesearch_client.filters."""
        request = _search_request(collection, image, top_k, min_score, filter, image_url, max_nsfw_score, model_set)
        return [Hit.from_proto(h) for h in self._stub.Search(request, timeout=self.timeout)]

    def search_text(
        self, collection: str, text: str, top_k: int | None = None, min_score: float | None = None,
        model_set: str = "", filter: pb.Filter | None = None, max_nsfw_score: float | None = None,
    ) -> list[Hit]:
        """The stored images that best match the description `text`, best first."""
        request = _search_text_request(collection, text, top_k, min_score, model_set, filter, max_nsfw_score)
        return [Hit.from_proto(h) for h in self._stub.Search(request, timeout=self.timeout)]

    def search_by_id(
        self, collection: str, item_id: str, top_k: int | None = None, min_score: float | None = None,
        include_self: bool = False, filter: pb.Filter | None = None,
    ) -> list[Hit]:
        """The stored images most similar to the stored item `item_id`."""
        request = _search_by_id_request(collection, item_id, top_k, min_score, include_self, filter)
        return [Hit.from_proto(h) for h in self._stub.SearchById(request, timeout=self.timeout)]

    def get(self, collection: str, ids: list[str]) -> list[Item]:
        """The items among `ids` that exist."""
        return _items(self._stub.Get(pb.GetRequest(collection=collection, ids=ids), timeout=self.timeout))

    def delete(self, collection: str, ids: list[str]) -> int:
        """Deletes items; returns how many existed."""
        return self._stub.Delete(pb.DeleteRequest(collection=collection, ids=ids), timeout=self.timeout).deleted

    def count(self, collection: str) -> int:
        """Number of items in a collection."""
        return self._stub.Count(pb.CountRequest(collection=collection), timeout=self.timeout).count


class AsyncImageSearchClient:
    """asyncio client with the same methods as ImageSearchClient, as coroutines."""

    def __init__(self, target: str = "127.0.0.1:50051", timeout: float = DEFAULT_TIMEOUT_S) -> None:
        self._channel = grpc.aio.insecure_channel(target, options=CHANNEL_OPTIONS)
        self._stub = pb_grpc.ImageSearchStub(self._channel)
        self.timeout = timeout

    async def __aenter__(self) -> "AsyncImageSearchClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Closes the channel."""
        await self._channel.close()

    async def create_collection(
        self, name: str, model_set: str = "", max_nsfw_score: float | None = None, skip_nsfw_scoring: bool = False
    ) -> Collection:
        """Creates an empty collection with `model_set` (empty: the server's default); with
        max_nsfw_score, inserts scoring above it are refused; with skip_nsfw_scoring, inserts
        are not scored (faster)."""
        request = pb.CreateCollectionRequest(
            name=name, model_set=model_set, max_nsfw_score=max_nsfw_score, skip_nsfw_scoring=skip_nsfw_scoring
        )
        return Collection.from_proto(await self._stub.CreateCollection(request, timeout=self.timeout))

    async def moderate(self, image: bytes | None = None, image_url: str | None = None) -> Moderation:
        """The NSFW score and label of an image (bytes or URL), which is not stored."""
        request = pb.ModerateRequest(image_url=image_url) if image_url else pb.ModerateRequest(image_bytes=image or b"")
        return Moderation.from_proto(await self._stub.Moderate(request, timeout=self.timeout))

    async def get_collection(self, name: str) -> Collection:
        """Describes one collection."""
        return Collection.from_proto(await self._stub.GetCollection(pb.GetCollectionRequest(name=name), timeout=self.timeout))

    async def list_collections(self) -> list[Collection]:
        """Every collection, sorted by name."""
        response = await self._stub.ListCollections(pb.ListCollectionsRequest(), timeout=self.timeout)
        return [Collection.from_proto(c) for c in response.collections]

    async def delete_collection(self, name: str) -> None:
        """Deletes a collection and its items."""
        await self._stub.DeleteCollection(pb.DeleteCollectionRequest(name=name), timeout=self.timeout)

    async def insert(self, collection: str, item: InsertItem) -> str:
        """Inserts one image; returns its id (the existing item's when skipped as a duplicate)."""
        return (await self._stub.Insert(item.to_proto(collection), timeout=self.timeout)).id

    async def insert_outcome(self, collection: str, item: InsertItem) -> InsertOutcome:
        """Inserts one image; returns the whole outcome (duplicate found, skipped)."""
        return InsertOutcome.from_proto(await self._stub.Insert(item.to_proto(collection), timeout=self.timeout))

    async def find_duplicates(
        self, collection: str, threshold: float | None = None, timeout: float | None = None
    ) -> list[DuplicateGroup]:
        """Groups of near-duplicate items in a collection, largest first."""
        request = pb.FindDuplicatesRequest(collection=collection, threshold=threshold)
        call = self._stub.FindDuplicates(request, timeout=timeout or self.timeout)
        return [DuplicateGroup.from_proto(g) async for g in call]

    async def insert_stream(
        self, collection: str, items: AsyncIterable[InsertItem] | Iterable[InsertItem], timeout: float | None = None
    ) -> AsyncIterator[InsertOutcome]:
        """Streams items in; yields one outcome per item as the server finishes it."""

        async def requests() -> AsyncIterator[pb.InsertRequest]:
            if hasattr(items, "__aiter__"):
                async for item in items:
                    yield item.to_proto(collection)
            else:
                for item in items:
                    yield item.to_proto(collection)

        async for result in self._stub.InsertStream(requests(), timeout=timeout):
            yield InsertOutcome.from_proto(result)

    async def search(
        self, collection: str, image: bytes | None = None, top_k: int | None = None, min_score: float | None = None,
        filter: pb.Filter | None = None, image_url: str | None = None, max_nsfw_score: float | None = None,
        model_set: str = "",
    ) -> list[Hit]:
        """The stored images most similar to `image` (or the image at `image_url`, which the
        server downloads), best first; `filter`: see imagesearch_client.filters."""
        request = _search_request(collection, image, top_k, min_score, filter, image_url, max_nsfw_score, model_set)
        return [Hit.from_proto(h) async for h in self._stub.Search(request, timeout=self.timeout)]

    async def search_text(
        self, collection: str, text: str, top_k: int | None = None, min_score: float | None = None,
        model_set: str = "", filter: pb.Filter | None = None, max_nsfw_score: float | None = None,
    ) -> list[Hit]:
        """The stored images that best match the description `text`, best first."""
        request = _search_text_request(collection, text, top_k, min_score, model_set, filter, max_nsfw_score)
        return [Hit.from_proto(h) async for h in self._stub.Search(request, timeout=self.timeout)]

    async def search_by_id(
        self, collection: str, item_id: str, top_k: int | None = None, min_score: float | None = None,
        include_self: bool = False, filter: pb.Filter | None = None,
    ) -> list[Hit]:
        """The stored images most similar to the stored item `item_id`."""
        call = self._stub.SearchById(
            _search_by_id_request(collection, item_id, top_k, min_score, include_self, filter), timeout=self.timeout
        )
        return [Hit.from_proto(h) async for h in call]

    async def get(self, collection: str, ids: list[str]) -> list[Item]:
        """The items among `ids` that exist."""
        return _items(await self._stub.Get(pb.GetRequest(collection=collection, ids=ids), timeout=self.timeout))

    async def delete(self, collection: str, ids: list[str]) -> int:
        """Deletes items; returns how many existed."""
        return (await self._stub.Delete(pb.DeleteRequest(collection=collection, ids=ids), timeout=self.timeout)).deleted

    async def count(self, collection: str) -> int:
        """Number of items in a collection."""
        return (await self._stub.Count(pb.CountRequest(collection=collection), timeout=self.timeout)).count
