"""Python client for the imagesearch gRPC API, blocking and asyncio."""

from imagesearch_client.client import AsyncImageSearchClient, ImageSearchClient
from imagesearch_client.types import Collection, DuplicateGroup, Hit, InsertItem, InsertOutcome, Item, Moderation

__all__ = [
    "AsyncImageSearchClient",
    "Collection",
    "DuplicateGroup",
    "Hit",
    "ImageSearchClient",
    "InsertItem",
    "InsertOutcome",
    "Item",
    "Moderation",
]
