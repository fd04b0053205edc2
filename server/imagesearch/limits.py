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
# Snapshot files stream in chunks of this many bytes (DownloadSnapshot; the clients'
# UploadSnapshot): well under the default 64 MiB message limit, and 1 MiB per message keeps
# a stream's memory small while costing ~1000 messages per GB (negligible next to disk I/O).
SNAPSHOT_CHUNK_BYTES = 1 << 20
# ReprocessCollectionResponse lists at most this many IDs of items without an original.
REPROCESS_NO_ORIGINAL_SAMPLE = 100

# Quotas (server/imagesearch/auth/quotas.py), per server process: a deployment of N
# replicas admits up to N times these. Defaults sized so that a normal client never meets
# them (a search costs ~10-30 ms of CPU, so 100 calls/s per key is already a few cores)
# while one runaway key cannot take the whole server.
QUOTA_KEY_REQUESTS_PER_S = 100.0
QUOTA_KEY_BURST = 200
QUOTA_KEY_STREAMS = 16
# Server-wide: calls running at once, all callers together (gRPC's own default is
# unbounded); each holds a request's memory (up to max_message_mb) until it ends.
MAX_CONCURRENT_RPCS = 512
# Collections a store may hold: each embedded collection is a shard with its own files,
# WAL and threads, so an unbounded number exhausts file descriptors and memory.
MAX_COLLECTIONS = 1000
# People (docs/faces.md): a person's display name, and the people one MergePeople call absorbs.
MAX_PERSON_NAME_CHARS = 100
MAX_PEOPLE_PER_MERGE = 100
# Images the API process decodes at once (fingerprints, duplicate candidates' thumbnails):
# a server-wide cap, on a thread pool of its own apart from the store's threads, so a burst of
# inserts cannot hold every core or its decoded pixels in memory at once (issue 10). Two
# threads keep both cores of the reference machine busy (the decoders release the GIL).
DEFAULT_DECODE_CONCURRENCY = 2
# How long a checked insert's claim may stay unsettled before other API replicas treat its
# owner as dead (dedup/replicas.py): far longer than a check-and-write (a few ms here,
# bench.replicas_cost), short enough that a crashed replica blocks near-copies only briefly.
DUPLICATE_CLAIM_LEASE_S = 10.0
