"""The limits the API promises, defined once: the handlers check them, the stores rely on
them, the proto's comments state them (tests/test_api_limits.py keeps the proto honest)."""

from __future__ import annotations

# Hits per search (top_k): the engine's cost grows with it, and a page of 1000 hits with
# metadata is already megabytes.
DEFAULT_TOP_K = 10
MAX_TOP_K = 1000
# Item IDs: printable, 1-256 characters (a URL or a path fits; a document does not).
MAX_ITEM_ID_LENGTH = 256
# Items named in one Batch* call.
MAX_ITEMS_PER_BATCH = 1000
# Pages of ListCollections and ListItems.
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
# PurgeItems reports at most this many of the names it matched.
PURGE_SAMPLE_SIZE = 100
# Metadata kept with an item.
MAX_METADATA_BYTES = 64 * 1024
MAX_METADATA_DEPTH = 8
# Text queries and collection descriptions.
MAX_TEXT_CHARS = 1000
MAX_DESCRIPTION_CHARS = 1000
# Images the API process decodes at once (fingerprints, duplicate candidates' thumbnails):
# a server-wide cap, on a thread pool of its own apart from the store's threads, so a burst of
# inserts cannot hold every core or its decoded pixels in memory at once (issue 10). Two
# threads keep both cores of the reference machine busy (the decoders release the GIL).
DEFAULT_DECODE_CONCURRENCY = 2
