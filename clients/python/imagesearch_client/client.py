"""The blocking client. Every unary call has a deadline (the client's `timeout`, seconds).

Failures raise grpc.RpcError: `err.code()` and `err.details()` say what went wrong, and
imagesearch_client.errors reads the stable reason (`error_reason(err)`). Collections are
given by ID ("corel") or resource name ("collections/corel"); items by their plain IDs.
"""

from __future__ import annotations

import time
from typing import Iterable, Iterator

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc


from imagesearch_client.admin_client import AdminClient
from imagesearch_client import auth, connection, messages
from imagesearch_client.connection import Tls
from imagesearch_client.names import collection_name, item_name
from imagesearch_client.people import PeopleMethods
from imagesearch_client.types import (
    Collection, DuplicateGroup, Face, Hit, ImportOutcome, InsertItem, Item, ItemResult, Moderation, Page, PurgeResult,
    TextLine,
)
from imagesearch_client.v1 import imagesearch_pb2 as pb
from imagesearch_client.v1 import imagesearch_pb2_grpc as pb_grpc

DEFAULT_TIMEOUT_S = 30.0
# No client-side cap on message sizes: the server's own limit decides (and says so with
# RESOURCE_EXHAUSTED), so a photo the server accepts is never refused here.
CHANNEL_OPTIONS = [("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)]
HEALTH_POLL_S = 0.5


class ImageSearchClient(PeopleMethods):
    """Blocking client of imagesearch.v1. Use as a context manager, or call close(). The
    people methods (list_people, name_person, ...) are in imagesearch_client.people."""

    def __init__(
        self, target: str = "127.0.0.1:50051", timeout: float = DEFAULT_TIMEOUT_S, api_key: str | None = None,
        tls: Tls | bool | None = None,
    ) -> None:
        """`api_key`: sent as `authorization: Bearer` metadata on every call (docs/security.md).
        `tls`: None or False, plaintext; True, TLS trusting the system's CAs; a `Tls`, TLS with
        the CA, client certificate (mutual TLS) and server name it gives."""
        self._raw_channel = connection.sync_channel(target, connection.resolve_tls(tls), CHANNEL_OPTIONS)
        self._channel = (grpc.intercept_channel(self._raw_channel, auth.KeyInterceptor(api_key)) if api_key
                         else self._raw_channel)
        self._stub = pb_grpc.ImageSearchServiceStub(self._channel)
        self._health = health_pb2_grpc.HealthStub(self._channel)
        self.timeout = timeout
        # The administration calls (admin.proto) on the same channel, key and timeout.
        self.admin = AdminClient(self._channel, timeout)

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
            time.sleep(HEALTH_POLL_S)

    # Collections

    def create_collection(
        self, collection_id: str, model_set: str = "", max_nsfw_score: float | None = None,
        skip_nsfw_scoring: bool = False, description: str = "", keep_originals: bool = False,
        faces_enabled: bool = False, ocr_enabled: bool = False,
    ) -> Collection:
        """Creates an empty collection with `model_set` (empty: the server's default); with
        max_nsfw_score, inserts scoring above it are refused; with skip_nsfw_scoring, inserts
        are not scored (faster)."""
        request = messages.create_collection(
            collection_id, model_set, max_nsfw_score, skip_nsfw_scoring, description, keep_originals, faces_enabled,
            ocr_enabled,
        )
        return Collection.from_proto(self._stub.CreateCollection(request, timeout=self.timeout))

    def get_collection(self, collection: str) -> Collection:
        """Describes one collection."""
        request = pb.GetCollectionRequest(name=collection_name(collection))
        return Collection.from_proto(self._stub.GetCollection(request, timeout=self.timeout))

    def list_collections(self, page_size: int | None = None) -> Iterator[Collection]:
        """Every collection, sorted by ID, fetching pages as it goes."""
        token = ""
        while True:
            page = self.list_collections_page(page_size, token)
            yield from page.items
            if not (token := page.next_page_token):
                return

    def list_collections_page(self, page_size: int | None = None, page_token: str = "") -> Page[Collection]:
        """One page of collections (page_size: the server's default when None)."""
        reply = self._stub.ListCollections(messages.list_collections(page_size, page_token), timeout=self.timeout)
        return Page([Collection.from_proto(c) for c in reply.collections], reply.next_page_token)

    def update_collection(
        self, collection: str, description: str | None = None, max_nsfw_score: float | None = None,
        clear_max_nsfw_score: bool = False,
    ) -> Collection:
        """Changes the fields given (None: unchanged); clear_max_nsfw_score removes the cap."""
        request = messages.update_collection(collection, description, max_nsfw_score, clear_max_nsfw_score)
        return Collection.from_proto(self._stub.UpdateCollection(request, timeout=self.timeout))

    def delete_collection(self, collection: str) -> None:
        """Deletes a collection and its items."""
        self._stub.DeleteCollection(pb.DeleteCollectionRequest(name=collection_name(collection)), timeout=self.timeout)

    # Items

    def create_item(self, collection: str, item: InsertItem) -> ItemResult:
        """Stores one image (replacing an item with its ID); the stored item and any duplicate found."""
        return ItemResult.from_proto(self._stub.CreateItem(item.to_proto(collection), timeout=self.timeout))

    def import_items(
        self, collection: str, items: Iterable[InsertItem], timeout: float | None = None
    ) -> Iterator[ImportOutcome]:
        """Streams items in; yields one outcome per item as the server finishes it (not in
        order: each carries its index). `timeout` bounds the whole stream (None: no deadline)."""
        requests = (messages.import_request(collection, item) for item in items)
        for reply in self._stub.ImportItems(requests, timeout=timeout):
            yield ImportOutcome.from_proto(reply)

    def get_item(self, collection: str, item_id: str) -> Item:
        """Reads one item; NOT_FOUND (ITEM_NOT_FOUND) when it does not exist."""
        request = pb.GetItemRequest(name=item_name(collection, item_id))
        return Item.from_proto(self._stub.GetItem(request, timeout=self.timeout))

    def list_items(
        self, collection: str, filter: pb.Filter | None = None, page_size: int | None = None
    ) -> Iterator[Item]:
        """Every item (passing `filter`) in a stable order, fetching pages as it goes."""
        token = ""
        while True:
            page = self.list_items_page(collection, page_size, token, filter)
            yield from page.items
            if not (token := page.next_page_token):
                return

    def list_items_page(
        self, collection: str, page_size: int | None = None, page_token: str = "", filter: pb.Filter | None = None
    ) -> Page[Item]:
        """One page of items; the filter must be the same on every page."""
        request = messages.list_items(collection, page_size, page_token, filter)
        reply = self._stub.ListItems(request, timeout=self.timeout)
        return Page([Item.from_proto(i) for i in reply.items], reply.next_page_token)

    def batch_get_items(self, collection: str, item_ids: Iterable[str], allow_missing: bool = False) -> list[Item]:
        """The items, in the order asked; with allow_missing those that exist, else NOT_FOUND if any is missing."""
        request = messages.batch_get_items(collection, item_ids, allow_missing)
        return [Item.from_proto(i) for i in self._stub.BatchGetItems(request, timeout=self.timeout).items]

    def update_item(self, collection: str, item_id: str, metadata: dict, keys: list[str] | None = None) -> Item:
        """Replaces the item's metadata, or (with `keys`) sets those top-level keys from
        `metadata` and removes the ones it lacks; the image is not re-encoded."""
        request = messages.update_item(collection, item_id, metadata, keys)
        return Item.from_proto(self._stub.UpdateItem(request, timeout=self.timeout))

    def delete_item(self, collection: str, item_id: str, allow_missing: bool = False) -> None:
        """Deletes one item (NOT_FOUND when missing, unless allow_missing)."""
        request = pb.DeleteItemRequest(name=item_name(collection, item_id), allow_missing=allow_missing)
        self._stub.DeleteItem(request, timeout=self.timeout)

    def batch_delete_items(self, collection: str, item_ids: Iterable[str]) -> int:
        """Deletes items; returns how many existed."""
        request = messages.batch_delete_items(collection, item_ids)
        return self._stub.BatchDeleteItems(request, timeout=self.timeout).deleted_count

    def purge_items(self, collection: str, filter: pb.Filter, force: bool = False) -> PurgeResult:
        """Deletes every item passing `filter`; without force only counts them."""
        reply = self._stub.PurgeItems(messages.purge_items(collection, filter, force), timeout=self.timeout)
        return PurgeResult.from_proto(reply)

    def count_items(self, collection: str, filter: pb.Filter | None = None) -> int:
        """Number of items (passing `filter`)."""
        return self._stub.CountItems(messages.count_items(collection, filter), timeout=self.timeout).item_count

    # Search

    def search(
        self, collection: str, image: bytes | None = None, image_url: str | None = None, top_k: int | None = None,
        min_score: float | None = None, filter: pb.Filter | None = None, max_nsfw_score: float | None = None,
        model_set: str = "", image_text_filter: str | None = None,
    ) -> list[Hit]:
        """The stored images most similar to `image` (or the image at `image_url`, which the
        server downloads), best first; `filter`: see imagesearch_client.filters."""
        request = messages.search_image(
            collection, image, image_url, top_k=top_k, min_score=min_score, filter=filter,
            max_nsfw_score=max_nsfw_score, model_set=model_set, image_text_filter=image_text_filter,
        )
        return self._hits(request)

    def search_copies(
        self, collection: str, image: bytes | None = None, image_url: str | None = None, top_k: int | None = None,
        min_score: float | None = None, filter: pb.Filter | None = None, model_set: str = "",
    ) -> list[Hit]:
        """Stored copies of `image`, also rotated by 90/180/270 degrees or mirrored, best first
        (SEARCH_MODE_COPIES: ~4x the cost of `search`); a hit with score >= 0.9 is a copy."""
        request = messages.search_image(
            collection, image, image_url, top_k=top_k, min_score=min_score, filter=filter, max_nsfw_score=None,
            model_set=model_set, mode=pb.SEARCH_MODE_COPIES,
        )
        return self._hits(request)

    def search_text(
        self, collection: str, text: str, top_k: int | None = None, min_score: float | None = None,
        filter: pb.Filter | None = None, max_nsfw_score: float | None = None, model_set: str = "",
        image_text_filter: str | None = None,
    ) -> list[Hit]:
        """The stored images that best match the description `text`, best first."""
        request = messages.search(
            collection, text=text, top_k=top_k, min_score=min_score, filter=filter,
            max_nsfw_score=max_nsfw_score, model_set=model_set, image_text_filter=image_text_filter,
        )
        return self._hits(request)

    def search_similar(
        self, collection: str, item_id: str, include_query_item: bool = False, top_k: int | None = None,
        min_score: float | None = None, filter: pb.Filter | None = None, max_nsfw_score: float | None = None,
        model_set: str = "", image_text_filter: str | None = None,
    ) -> list[Hit]:
        """The stored images most similar to the stored item `item_id` ("more like this")."""
        request = messages.search_similar(
            collection, item_id, include_query_item, top_k=top_k, min_score=min_score, filter=filter,
            max_nsfw_score=max_nsfw_score, model_set=model_set, image_text_filter=image_text_filter,
        )
        return self._hits(request)

    def search_faces(
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
        return self._hits(request)

    def search_image_text(
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
        return self._hits(request)

    def read_image_text(self, image: bytes | None = None, image_url: str | None = None) -> list[TextLine]:
        """The lines of text in an image (nothing stored), in reading order."""
        reply = self._stub.ReadImageText(messages.read_image_text(image, image_url), timeout=self.timeout)
        return [TextLine.from_proto(line) for line in reply.lines]

    def detect_faces(self, image: bytes | None = None, image_url: str | None = None) -> list[Face]:
        """The faces in an image (nothing stored), best detector score first."""
        reply = self._stub.DetectFaces(messages.detect_faces(image, image_url), timeout=self.timeout)
        return [Face.from_proto(face) for face in reply.faces]

    def _hits(self, request: pb.SearchItemsRequest) -> list[Hit]:
        return [Hit.from_proto(h) for h in self._stub.SearchItems(request, timeout=self.timeout)]

    def find_duplicates(
        self, collection: str, threshold: float | None = None, timeout: float | None = None
    ) -> Iterator[DuplicateGroup]:
        """Groups of near-duplicate and exact-duplicate items, each as soon as the server
        completes it; `timeout` bounds the whole audit (None: the client's timeout)."""
        request = messages.find_duplicates(collection, threshold)
        for group in self._stub.FindDuplicates(request, timeout=timeout or self.timeout):
            yield DuplicateGroup.from_proto(group)

    # Images

    def moderate_image(self, image: bytes | None = None, image_url: str | None = None) -> Moderation:
        """The NSFW score and label of an image (bytes or URL), which is not stored."""
        reply = self._stub.ModerateImage(messages.moderate_image(image, image_url), timeout=self.timeout)
        return Moderation.from_proto(reply)
