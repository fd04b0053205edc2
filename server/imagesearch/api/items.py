"""Item handlers: the standard and batch methods on "collections/{c}/items/{item}", the
bulk import stream and the purge by filter."""

from __future__ import annotations

import asyncio
from typing import AsyncIterator

from google.protobuf import empty_pb2
from imagesearch_client.names import encode_id
from imagesearch_client.v1 import imagesearch_pb2 as pb

from imagesearch.api import convert, filters, pages, validation
from imagesearch.api.context import ServiceContext
from imagesearch.api.errors import as_api_error, invalid, item_not_found, unary_errors
from imagesearch.api.ingest import Ingestor
from imagesearch.limits import PURGE_SAMPLE_SIZE
from imagesearch.store.filters import Filter

# PurgeItems deletes in pages of this many ids, each page one engine write.
PURGE_PAGE = 1000


class ItemHandlers:
    """CreateItem, ImportItems, GetItem, ListItems, BatchGetItems, UpdateItem, DeleteItem,
    BatchDeleteItems, PurgeItems, CountItems."""

    ctx: ServiceContext
    ingestor: Ingestor

    @unary_errors
    async def CreateItem(self, request: pb.CreateItemRequest, context) -> pb.Item:
        return await self.ingestor.create(request)

    async def ImportItems(
        self, request_iterator: AsyncIterator[pb.ImportItemsRequest], context
    ) -> AsyncIterator[pb.ImportItemsResponse]:
        # Several items are encoded at once so Triton's dynamic batcher can group them.
        # A slot is given back only once its response has been handed to gRPC, so a client
        # that stops reading stops the server taking more of its requests: at most
        # insert_concurrency items are in flight or waiting to be sent, whatever the stream's length.
        concurrency = self.ctx.limits.insert_concurrency
        results: asyncio.Queue[pb.ImportItemsResponse | None] = asyncio.Queue(maxsize=concurrency)
        slots = asyncio.Semaphore(concurrency)

        async def run_item(index: int, request: pb.CreateItemRequest) -> None:
            await results.put(await self._import_one(index, request))

        async def feed() -> None:
            try:
                async with asyncio.TaskGroup() as items:
                    index = 0
                    async for message in request_iterator:
                        await slots.acquire()
                        items.create_task(run_item(index, message.request))
                        index += 1
            finally:
                await results.put(None)

        feeder = asyncio.create_task(feed())
        try:
            while (result := await results.get()) is not None:
                yield result
                slots.release()
            await feeder
        finally:
            feeder.cancel()

    async def _import_one(self, index: int, request: pb.CreateItemRequest) -> pb.ImportItemsResponse:
        """One import; every failure becomes the response's error, never an exception."""
        try:
            return pb.ImportItemsResponse(index=index, item=await self.ingestor.create(request))
        except Exception as exc:  # noqa: BLE001 - reported per item
            failed = pb.ImportItemsResponse(index=index, error=as_api_error(exc).to_status_proto())
            if request.item_id and request.parent:
                failed.item.name = f"{request.parent}/items/{encode_id(request.item_id)}"
            return failed

    @unary_errors
    async def GetItem(self, request: pb.GetItemRequest, context) -> pb.Item:
        parsed = validation.item_of(request.name)
        found = await self.ctx.store.get(parsed.collection_id, [parsed.item_id])
        if not found:
            raise item_not_found(parsed.collection_id, parsed.item_id)
        return convert.item(parsed.collection_id, found[0])

    @unary_errors
    async def ListItems(self, request: pb.ListItemsRequest, context) -> pb.ListItemsResponse:
        collection = validation.collection_of(request.parent)
        size = validation.page_size(request.page_size)
        flt = filters.request_filter(request)
        digest = pages.request_digest("items", collection, request.filter.SerializeToString(deterministic=True))
        offset = pages.decode(request.page_token, digest)
        points, next_offset = await self.ctx.store.scroll(collection, offset, size, flt=flt, with_vectors=False)
        return pb.ListItemsResponse(
            items=[convert.item(collection, p) for p in points],
            next_page_token=pages.encode(next_offset, digest) if next_offset is not None else "",
        )

    @unary_errors
    async def BatchGetItems(self, request: pb.BatchGetItemsRequest, context) -> pb.BatchGetItemsResponse:
        collection, ids = validation.items_of(request.parent, request.names)
        found = await self.ctx.store.get(collection, ids)
        present = {p.id for p in found}
        missing = [name for name, item_id in zip(request.names, ids) if item_id not in present]
        if missing and not request.allow_missing:
            first = ids[[i for i, item_id in enumerate(ids) if item_id not in present][0]]
            error = item_not_found(collection, first)
            error.message = (f"{len(missing)} of the {len(ids)} items do not exist (first: {first!r}); set "
                             "allow_missing to get the others")
            raise error
        return pb.BatchGetItemsResponse(items=[convert.item(collection, p) for p in found], missing_names=missing)

    @unary_errors
    async def UpdateItem(self, request: pb.UpdateItemRequest, context) -> pb.Item:
        parsed = validation.item_of(request.item.name, "item.name")
        new = validation.metadata(request.item.metadata)
        paths = set(request.update_mask.paths) - {"*"} or {"metadata"}
        if any(p != "metadata" and not p.startswith("metadata.") for p in paths):
            raise invalid("update_mask", f"update_mask {sorted(paths)} names fields that cannot change: use "
                          "'metadata' (replace it whole) or 'metadata.<key>' (set or remove one key)")
        found = await self.ctx.store.get(parsed.collection_id, [parsed.item_id])
        if not found:
            raise item_not_found(parsed.collection_id, parsed.item_id)
        metadata = _masked_metadata(found[0].metadata, new, paths)
        validation.metadata(convert.to_struct(metadata))  # the merged result obeys the limits too
        updated = await self.ctx.store.update_metadata(parsed.collection_id, parsed.item_id, metadata)
        if updated is None:
            raise item_not_found(parsed.collection_id, parsed.item_id)
        return convert.item(parsed.collection_id, updated)

    @unary_errors
    async def DeleteItem(self, request: pb.DeleteItemRequest, context) -> empty_pb2.Empty:
        parsed = validation.item_of(request.name)
        deleted = await self.ctx.store.delete(parsed.collection_id, [parsed.item_id])
        if not deleted and not request.allow_missing:
            raise item_not_found(parsed.collection_id, parsed.item_id)
        return empty_pb2.Empty()

    @unary_errors
    async def BatchDeleteItems(self, request: pb.BatchDeleteItemsRequest, context) -> pb.BatchDeleteItemsResponse:
        collection, ids = validation.items_of(request.parent, request.names)
        return pb.BatchDeleteItemsResponse(deleted_count=await self.ctx.store.delete(collection, ids))

    @unary_errors
    async def PurgeItems(self, request: pb.PurgeItemsRequest, context) -> pb.PurgeItemsResponse:
        collection = validation.collection_of(request.parent)
        flt = filters.request_filter(request)
        if flt is None:
            raise invalid("filter", "filter must hold at least one condition (to delete every item, delete the "
                          "collection)")
        if not request.force:
            count = await self.ctx.store.count(collection, flt)
            sample, _ = await self.ctx.store.scroll(collection, None, PURGE_SAMPLE_SIZE, flt=flt, with_vectors=False)
            return pb.PurgeItemsResponse(purge_count=count, purge_sample=[convert.item(collection, p).name
                                                                          for p in sample])
        return await self._purge(collection, flt)

    async def _purge(self, collection: str, flt: Filter) -> pb.PurgeItemsResponse:
        """Delete every item passing `flt`, a page at a time (each page one engine write)."""
        deleted, sample = 0, []
        while True:
            page, _ = await self.ctx.store.scroll(collection, None, PURGE_PAGE, flt=flt, with_vectors=False)
            if not page:
                return pb.PurgeItemsResponse(purge_count=deleted, purge_sample=sample)
            sample += [convert.item(collection, p).name for p in page[: PURGE_SAMPLE_SIZE - len(sample)]]
            deleted += await self.ctx.store.delete(collection, [p.id for p in page])

    @unary_errors
    async def CountItems(self, request: pb.CountItemsRequest, context) -> pb.CountItemsResponse:
        collection = validation.collection_of(request.parent)
        count = await self.ctx.store.count(collection, filters.request_filter(request))
        return pb.CountItemsResponse(item_count=count)


def _masked_metadata(current: dict, new: dict, paths: set[str]) -> dict:
    """The metadata after an update: "metadata" replaces it whole; "metadata.<key>" sets the
    key from `new`, or removes it when `new` lacks it."""
    if "metadata" in paths:
        return dict(new)
    merged = dict(current)
    for path in sorted(paths):
        key = path.split(".", 1)[1]
        if key in new:
            merged[key] = new[key]
        else:
            merged.pop(key, None)
    return merged
