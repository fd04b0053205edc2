"""The vector store interface the API is written against, and the types it exchanges."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping, Protocol, Sequence

import numpy as np

from imagesearch.ocr.lines import OcrLine
from imagesearch.store.claims import Claim, ClaimState
from imagesearch.store.filters import Filter

if TYPE_CHECKING:
    from imagesearch.store.originals import OriginalsUsage

# Collection names become directory names (embedded store) and Qdrant collection names:
# keep them to a portable, unambiguous alphabet.
COLLECTION_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")


class StoreError(Exception):
    """Base class of the errors a store raises."""


class CollectionNotFound(StoreError):
    """The named collection does not exist."""

    def __init__(self, name: str) -> None:
        super().__init__(f"collection {name!r} does not exist")
        self.name = name


class OriginalsUnsupported(StoreError):
    """keep_originals asked of a store that cannot keep originals (a remote Qdrant)."""


class CollectionExists(StoreError):
    """A collection of that name already exists."""

    def __init__(self, name: str) -> None:
        super().__init__(f"collection {name!r} already exists")
        self.name = name


class InvalidCollectionName(StoreError):
    """The name does not match COLLECTION_NAME_PATTERN."""


class AliasNotFound(StoreError):
    """No alias of that name."""


class AliasExists(StoreError):
    """The alias name is already an alias or a collection (or a collection name an alias)."""


class OriginalsNotKept(StoreError):
    """The collection was created without keep_originals: it has no image bytes to re-run."""


def check_collection_name(name: str) -> None:
    """Raise InvalidCollectionName unless `name` is a valid collection name."""
    if not COLLECTION_NAME_PATTERN.fullmatch(name or ""):
        raise InvalidCollectionName(
            f"collection name {name[:80]!r} is invalid: use 1-63 characters from "
            "letters, digits, '_' and '-', starting with a letter or digit"
        )


@dataclass(frozen=True)
class ModelRecord:
    """The embedding model that made one vector space's vectors."""

    name: str
    version: str
    dimension: int


@dataclass(frozen=True)
class SpaceRecord:
    """One vector space of a collection (a Qdrant named vector) and the model behind it."""

    name: str
    model: ModelRecord


@dataclass(frozen=True)
class ModelSetRecord:
    """The model set a collection was built with: its name and its vector spaces, first
    the image-similarity space. Every point has one vector in every space."""

    name: str
    spaces: tuple[SpaceRecord, ...]

    def space(self, name: str) -> SpaceRecord | None:
        """The space called `name`, or None when the collection has no such space."""
        return next((s for s in self.spaces if s.name == name), None)

    @property
    def space_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.spaces)


@dataclass(frozen=True)
class ModerationPolicy:
    """A collection's NSFW policy, fixed at creation.

    scoring: run the NSFW model on every insert and store the score (it costs about three
        times the image encoder's CPU; catalogs of trusted images can turn it off).
    max_score: refuse inserts scoring above this (None: accept all); needs scoring.
    """

    scoring: bool = True
    max_score: float | None = None

    def __post_init__(self) -> None:
        if self.max_score is not None and not self.scoring:
            raise ValueError("a maximum NSFW score needs NSFW scoring")

    def to_dict(self) -> dict[str, Any]:
        """As recorded with the collection (JSON)."""
        return {"nsfw_scoring": self.scoring, "max_nsfw_score": self.max_score}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> "ModerationPolicy":
        """Inverse of to_dict; collections recorded before scoring could be turned off scored."""
        return cls(scoring=bool(raw.get("nsfw_scoring", True)), max_score=raw.get("max_nsfw_score"))


@dataclass(frozen=True)
class OcrPolicy:
    """Whether a collection reads the text in its images (OCR) at insert, fixed at creation.

    Off by default: reading costs from about the image encoder's time on a photo without
    text (the gate) to seconds on a text-heavy image (docs/benchmarks.md).
    """

    enabled: bool = False

    def to_dict(self) -> dict[str, Any]:
        """As recorded with the collection (JSON)."""
        return {"ocr_enabled": self.enabled}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> "OcrPolicy":
        """Inverse of to_dict; collections recorded before OCR existed have it off."""
        return cls(enabled=bool(raw.get("ocr_enabled", False)))


SCORE_PIN_KEY = "score_calibration_version"


@dataclass(frozen=True)
class ScorePin:
    """The score calibration version a collection was created under (scoring/registry.py),
    fixed at creation: its hits are scored with it whatever newer version a server ships.

    version 0: the identity (the model set had no calibration then). None: recorded before
    collections pinned one; scoring/registry.pinned reads it as the version every server
    scored with until then (offline/v1).
    """

    version: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """As recorded with the collection (JSON; nothing for an unpinned record)."""
        return {} if self.version is None else {SCORE_PIN_KEY: self.version}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> "ScorePin":
        """Inverse of to_dict."""
        version = raw.get(SCORE_PIN_KEY)
        return cls(None if version is None else int(version))


@dataclass(frozen=True)
class CollectionInfo:
    """What a store knows about one collection."""

    name: str
    model_set: ModelSetRecord
    count: int
    created_at: float  # seconds since the epoch
    indexed_count: int = 0  # points covered by a vector (HNSW) index; the rest are searched exactly
    moderation: ModerationPolicy = ModerationPolicy()
    ocr: OcrPolicy = OcrPolicy()
    description: str = ""
    score_pin: ScorePin = ScorePin()

    @property
    def model(self) -> ModelRecord:
        """The model of the first (image-similarity) space."""
        return self.model_set.spaces[0].model


@dataclass(frozen=True)
class PointToStore:
    """One point to upsert: the caller's id, one unit-length vector per space, its payload.

    `fingerprint` is the duplicate-detection record (imagesearch.dedup), stored beside the
    metadata; a "sha256" key in it is indexed for exact-duplicate lookups.
    """

    id: str
    vectors: Mapping[str, np.ndarray]
    metadata: dict[str, Any] = field(default_factory=dict)
    fingerprint: dict[str, Any] = field(default_factory=dict)
    nsfw_score: float | None = None
    # Features computed for it besides fingerprint and NSFW score (features.Feature values,
    # e.g. "ocr", "faces"), recorded so that reads can tell what an item lacks.
    features: frozenset[str] = frozenset()
    # The image bytes, kept only by collections created with keep_originals (originals.py).
    original: bytes | None = None
    # The lines OCR read (collections with OCR on; () when the image shows no text); None:
    # not read, nothing stored.
    ocr_lines: tuple[OcrLine, ...] | None = None


@dataclass(frozen=True)
class StoredPoint:
    """A point read back from the store; `vectors` (by space) only when asked for."""

    id: str
    metadata: dict[str, Any]
    vectors: dict[str, np.ndarray] | None = None
    fingerprint: dict[str, Any] | None = None  # only when asked for
    # Features it was stored without (stored before they existed, or skipped): features.py.
    missing_features: tuple[str, ...] = ()
    ocr_lines: tuple[OcrLine, ...] | None = None  # None when the point has no OCR record
    nsfw_score: float | None = None


@dataclass(frozen=True)
class ScoredHit:
    """One search result, best first: `score` in 0..1 (the cosine clamped at 0, or a fused
    score), `similarity` the raw cosine of the query and the item in the space searched."""

    id: str
    score: float
    metadata: dict[str, Any]
    fingerprint: dict[str, Any] | None = None  # only when asked for
    nsfw_score: float | None = None
    ocr_lines: tuple[OcrLine, ...] | None = None  # None when the point has no OCR record
    similarity: float = 0.0


@dataclass(frozen=True)
class Alias:
    """Another name for a collection (aliases.py)."""

    name: str
    collection: str


@dataclass(frozen=True)
class SnapshotInfo:
    """One snapshot a store holds.

    name: the snapshot's id within its collection; collection: the collection, or
        ALL_COLLECTIONS for a snapshot of every collection; location: where the file is
        (a path for the embedded store, the Qdrant snapshot name for a remote one);
        checksum: SHA-256 of the manifest's content digests (embedded) or Qdrant's file checksum.
    """

    name: str
    collection: str
    created_at: float
    size_bytes: int
    checksum: str
    location: str
    item_count: int | None = None  # None when the store cannot tell without reading it (remote)
    model_sets: tuple[str, ...] = ()


# The collection part of the name of a snapshot of all collections (AIP-159 wildcard).
ALL_COLLECTIONS = "-"

# progress(done, total): called as a snapshot or restore advances (items).
Progress = Callable[[int, int], None]


class VectorStore(Protocol):
    """Async interface over a Qdrant engine. Ids are the caller's strings."""

    async def create_collection(
        self,
        name: str,
        model_set: ModelSetRecord,
        moderation: ModerationPolicy = ModerationPolicy(),
        description: str = "",
        keep_originals: bool = False,
        ocr: OcrPolicy = OcrPolicy(),
        score_pin: ScorePin | None = None,
    ) -> CollectionInfo:
        """Create an empty collection with one vector space per model-set space, its
        moderation and OCR policies and description; CollectionExists if the name is taken.
        score_pin: None pins the calibration version current for the model set."""

    async def get_collection(self, name: str) -> CollectionInfo:
        """Describe a collection; CollectionNotFound if missing."""

    async def model_set(self, name: str) -> ModelSetRecord:
        """The collection's model set, without counting its points (cheap: per request)."""

    async def moderation(self, name: str) -> ModerationPolicy:
        """The collection's moderation policy, cheap like model_set."""

    async def ocr_policy(self, name: str) -> OcrPolicy:
        """The collection's OCR policy, cheap like model_set."""

    async def score_pin(self, name: str) -> ScorePin:
        """The calibration version the collection was created under, cheap like model_set."""

    async def list_collections(self) -> list[CollectionInfo]:
        """All collections, sorted by name."""

    async def delete_collection(self, name: str) -> None:
        """Drop a collection and its data; CollectionNotFound if missing."""

    async def upsert(self, name: str, points: Sequence[PointToStore]) -> None:
        """Insert or replace points; durable when this returns."""

    async def search(
        self,
        name: str,
        vector: np.ndarray,
        limit: int,
        min_score: float = 0.0,
        space: str | None = None,
        flt: Filter | None = None,
        with_fingerprint: bool = False,
    ) -> list[ScoredHit]:
        """The `limit` nearest points in `space` (default: the first) with score >= min_score
        whose payload passes `flt` (evaluated by the engine, with payload indexes on the
        filtered keys), best first."""

    async def scroll(
        self, name: str, offset: str | None, limit: int, flt: Filter | None = None, with_vectors: bool = True
    ) -> tuple[list[StoredPoint], str | None]:
        """A page of points passing `flt` in the engine's stable id order, from `offset` (a
        point id, None for the start), with vectors (all spaces) and fingerprints when
        `with_vectors`; returns the page and the next offset (None at the end). Offsets
        stay valid while points are added or deleted."""

    async def get(self, name: str, ids: Sequence[str], with_vectors: bool = False) -> list[StoredPoint]:
        """The points among `ids` that exist, in the order asked."""

    async def filtered_points(
        self, name: str, flt: Filter, offset: str | None, limit: int
    ) -> tuple[list[StoredPoint], str | None]:
        """A page of the points passing `flt` (evaluated by the engine, payload indexes
        created as for search), without vectors or fingerprints, from `offset` (opaque,
        None for the start); returns the page and the next token (None at the end)."""

    async def delete(self, name: str, ids: Sequence[str]) -> int:
        """Delete points by id; returns how many existed."""

    async def count(self, name: str, flt: Filter | None = None) -> int:
        """Number of points in the collection (passing `flt`)."""

    async def update_metadata(self, name: str, point_id: str, metadata: dict[str, Any]) -> StoredPoint | None:
        """Replace a point's metadata, keeping its vectors and the rest of its payload;
        returns the updated point, or None when it does not exist."""

    async def update_collection(
        self, name: str, description: str | None = None, moderation: ModerationPolicy | None = None
    ) -> CollectionInfo:
        """Change a collection's description and/or moderation policy (None: keep)."""

    async def keeps_originals(self, name: str) -> bool:
        """Whether the collection keeps its items' original bytes (created with
        keep_originals; embedded store only). The insert path sets PointToStore.original
        for such collections."""

    async def get_original(self, name: str, point_id: str) -> bytes | None:
        """An item's original bytes, None if it has none; OriginalsNotKept."""

    async def originals_usage(self, name: str) -> "OriginalsUsage":
        """Count and bytes of the kept originals (walks the folder: admin calls only)."""

    async def resolve(self, name: str) -> str:
        """The collection `name` designates: itself, or the collection of alias `name`.
        Every other method accepts an alias where it takes a collection name."""

    async def create_alias(self, alias: str, collection: str) -> Alias:
        """Create `alias` for an existing collection; AliasExists if the name is taken by an
        alias or a collection, CollectionNotFound if the collection is missing."""

    async def switch_alias(self, alias: str, collection: str) -> Alias:
        """Point an existing alias at another collection atomically (requests see the old
        collection or the new one, never an error); AliasNotFound / CollectionNotFound."""

    async def delete_alias(self, alias: str) -> None:
        """Remove an alias (not its collection); AliasNotFound if missing."""

    async def list_aliases(self, collection: str | None = None) -> list[Alias]:
        """Every alias, or those of `collection`, sorted by name."""

    async def create_snapshot(self, collection: str | None, progress: Progress | None = None) -> SnapshotInfo:
        """Snapshot one collection (None: all) while serving; writes are blocked at most for a
        flush. CollectionNotFound if missing."""

    async def list_snapshots(self, collection: str | None = None) -> list[SnapshotInfo]:
        """The snapshots of `collection` (None: of every collection and the all-collection
        ones), oldest first."""

    async def delete_snapshot(self, collection: str, snapshot: str) -> None:
        """Delete one snapshot; snapshots.SnapshotNotFound if missing."""

    async def restore_snapshot(
        self,
        collection: str,
        snapshot: str,
        served: Sequence[ModelSetRecord] | None,
        target: str | None = None,
        progress: Progress | None = None,
    ) -> list[CollectionInfo]:
        """Create the collection(s) of a snapshot (under `target` when restoring a one-collection
        snapshot under another name). Refuses, changing nothing: a snapshot whose model set is
        not in `served` (snapshots.ModelSetNotServed; None: no check), a corrupt or truncated one
        (snapshots.SnapshotCorrupt), an existing collection (CollectionExists)."""

    async def put_claim(self, name: str, claim: Claim) -> None:
        """Record a duplicate-check claim for collection `name` (a resolved name, not an
        alias), visible to every user of the store (every replica) when this returns."""

    async def claims(self, name: str) -> list[Claim]:
        """The claims of collection `name` (at most claims.MAX_CLAIMS_READ)."""

    async def transition_claim(self, name: str, claim: Claim, expected: ClaimState | None) -> Claim | None:
        """Compare-and-set: `claim` replaces the stored claim of its id only if that one's state
        is `expected` (None: any state; a missing claim is never created); returns the stored
        claim afterwards, None when there is none. Atomic against every other claim call."""

    async def drop_claim(self, name: str, claim_id: str) -> None:
        """Remove a claim (nothing if it is gone)."""

    async def close(self) -> None:
        """Flush and release every resource; the store is unusable afterwards."""
