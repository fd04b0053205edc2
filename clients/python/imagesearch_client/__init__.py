"""Python client for the imagesearch v1 gRPC API, blocking (ImageSearchClient) and asyncio
(AsyncImageSearchClient). Metadata filters: imagesearch_client.filters; error reasons:
imagesearch_client.errors; resource names: imagesearch_client.names; the generated
messages and stubs: imagesearch_client.v1."""

from imagesearch_client.async_client import AsyncImageSearchClient
from imagesearch_client.client import ImageSearchClient
from imagesearch_client.connection import Tls
from imagesearch_client.errors import error_metadata, error_reason
from imagesearch_client.people import Person, PersonFace, ReclusterResult
from imagesearch_client.types import (
    Collection,
    Duplicate,
    DuplicateGroup,
    Hit,
    ImportOutcome,
    InsertItem,
    Item,
    ItemError,
    ItemResult,
    Moderation,
    Page,
    PurgeResult,
    Space,
)

__all__ = [
    "AsyncImageSearchClient",
    "Collection",
    "Duplicate",
    "DuplicateGroup",
    "Hit",
    "ImageSearchClient",
    "ImportOutcome",
    "InsertItem",
    "Item",
    "ItemError",
    "ItemResult",
    "Moderation",
    "Page",
    "Person",
    "PersonFace",
    "PurgeResult",
    "ReclusterResult",
    "Space",
    "Tls",
    "error_metadata",
    "error_reason",
]
