"""Re-running the models over a collection's kept originals (collections created with
keep_originals), as a library function taking the encoder as a callable; the server binds
it to the models it serves.

FILL: items lacking features (features.py: stored before a feature existed, or skipped)
    get them from their original, in place; vectors, metadata and everything present stay.
    Fingerprints stored before the turn hash (dedup/turnhash.py) gain it from their own
    stored thumbnail, without the original or the models.
REEMBED: every item is re-encoded into a *new* collection built with another model set
    (e.g. a new model version) while the old one keeps serving; then the caller switches
    the alias clients use (store.switch_alias) and deletes the old collection when it likes.

Both are resumable after a crash or a cancel: progress is the data itself (an item with no
missing features, an id already in the target collection), made durable by each upsert, so a
second run skips what is done. Writes to the source during a REEMBED run may be missed by the
pass that is under way: run it again just before switching (it copies only what is new and
drops from the target what was deleted from the source).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Awaitable, Callable, Mapping

import numpy as np

from imagesearch.store.base import CollectionNotFound, ModelSetRecord, OriginalsNotKept, PointToStore, Progress, StoredPoint
from imagesearch.store.features import KNOWN_FEATURES, Feature

log = logging.getLogger(__name__)
PAGE = 64


@dataclass(frozen=True)
class Encoded:
    """What the encoder derived from one original. Fields left None were not computed."""

    vectors: Mapping[str, np.ndarray]
    fingerprint: dict[str, Any] | None = None
    nsfw_score: float | None = None
    features: frozenset[str] = frozenset()  # further features computed (e.g. "ocr", "faces")


Encoder = Callable[[bytes], Awaitable[Encoded]]


class ReprocessMode(str, Enum):
    FILL = "fill"
    REEMBED = "reembed"


@dataclass
class ReprocessReport:
    """What one run did; `no_original` lists items that could not be re-run."""

    mode: ReprocessMode
    source: str
    target: str
    total: int = 0
    processed: int = 0
    skipped: int = 0  # already done (a resumed run)
    removed: int = 0  # REEMBED: target items deleted from the source meanwhile
    no_original: list[str] = field(default_factory=list)


async def _pages(store: Any, name: str):
    offset = None
    while True:
        page, offset = await store.scroll(name, offset, PAGE)
        yield page
        if offset is None:
            return


async def reprocess(
    store: Any,
    source: str,
    encoder: Encoder,
    mode: ReprocessMode,
    target: str | None = None,
    target_model_set: ModelSetRecord | None = None,
    progress: Progress | None = None,
    provides: frozenset[str] = frozenset(KNOWN_FEATURES),
) -> ReprocessReport:
    """Run `mode` over collection `source` (an EdgeStore: it keeps originals).

    FILL re-runs only items lacking one of `provides` (the features the encoder computes).
    REEMBED needs `target` (created with `target_model_set`, the source's moderation and
    keep_originals, unless it exists from an interrupted run). Raises OriginalsNotKept if
    the source keeps no originals, CollectionNotFound.
    """
    if not await store.keeps_originals(source):
        raise OriginalsNotKept(f"collection {source!r} keeps no originals: it cannot be re-processed")
    report = ReprocessReport(mode, source, target or source, total=await store.count(source))
    if mode is ReprocessMode.REEMBED:
        if not target or target_model_set is None:
            raise ValueError("re-embedding needs a target collection and its model set")
        await _ensure_target(store, source, target, target_model_set)
    async for page in _pages(store, source):
        if mode is ReprocessMode.FILL:
            await _fill(store, source, encoder, page, report, provides)
        else:
            await _reembed(store, source, target, encoder, page, report)
        if progress:
            progress(report.processed + report.skipped + len(report.no_original), report.total)
    if mode is ReprocessMode.REEMBED:
        await _drop_deleted(store, source, target, report)
    log.info("reprocess %s %s -> %s: %d processed, %d already done, %d without original",
             mode.value, source, report.target, report.processed, report.skipped, len(report.no_original))
    return report


async def _ensure_target(store: Any, source: str, target: str, model_set: ModelSetRecord) -> None:
    try:
        existing = await store.model_set(target)
    except CollectionNotFound:
        moderation = await store.moderation(source)
        await store.create_collection(target, model_set, moderation, keep_originals=True)
        return
    if existing != model_set:
        raise ValueError(f"collection {target!r} exists with another model set: pick another target name")


async def _fill(store: Any, name: str, encoder: Encoder, page: list[StoredPoint], report: ReprocessReport,
                provides: frozenset[str]) -> None:
    points = []
    for point in page:
        missing = set(point.missing_features)
        if not missing & provides:
            upgraded = with_turn_hash(point.fingerprint)
            if upgraded is None:
                report.skipped += 1
            else:
                points.append(_same_point(point, upgraded))
            continue
        original = await store.get_original(name, point.id)
        if original is None:
            report.no_original.append(point.id)
            continue
        encoded = await encoder(original)
        has_fp = Feature.FINGERPRINT.value not in missing
        has_nsfw = Feature.NSFW.value not in missing
        present = {f for f in (Feature.OCR.value, Feature.FACES.value) if f not in missing}
        points.append(PointToStore(
            id=point.id,
            vectors=point.vectors,
            metadata=point.metadata,
            fingerprint=(with_turn_hash(point.fingerprint) or point.fingerprint) if has_fp else (encoded.fingerprint or {}),
            nsfw_score=point.nsfw_score if has_nsfw else encoded.nsfw_score,
            features=frozenset(present | set(encoded.features)),
        ))
    if points:
        await store.upsert(name, points)
        report.processed += len(points)


def with_turn_hash(stored: dict[str, Any] | None) -> dict[str, Any] | None:
    """A stored fingerprint completed with its turn hash (from its thumbnail); None when it
    has one already, or no thumbnail to take it from."""
    from imagesearch.dedup import turnhash
    from imagesearch.dedup.fingerprint import Fingerprint

    if not stored or "thumb" not in stored or turnhash.TURN_HASH_KEY in stored:
        return None
    return Fingerprint.from_payload(stored).to_payload() | {k: v for k, v in stored.items() if k != "thumb"}


def _same_point(point: StoredPoint, fingerprint: dict[str, Any]) -> PointToStore:
    """`point` as it is stored, with another fingerprint record."""
    return PointToStore(
        id=point.id, vectors=point.vectors, metadata=point.metadata, fingerprint=fingerprint,
        nsfw_score=point.nsfw_score, features=frozenset(set(KNOWN_FEATURES) - set(point.missing_features)),
        ocr_lines=point.ocr_lines,
    )


async def _reembed(store: Any, source: str, target: str, encoder: Encoder, page: list[StoredPoint],
                   report: ReprocessReport) -> None:
    done = {p.id for p in await store.get(target, [p.id for p in page])}
    points = []
    for point in page:
        if point.id in done:
            report.skipped += 1
            continue
        original = await store.get_original(source, point.id)
        if original is None:
            report.no_original.append(point.id)
            continue
        encoded = await encoder(original)
        points.append(PointToStore(
            id=point.id,
            vectors=encoded.vectors,
            metadata=point.metadata,
            fingerprint=encoded.fingerprint or point.fingerprint or {},
            nsfw_score=encoded.nsfw_score if encoded.nsfw_score is not None else point.nsfw_score,
            features=frozenset(encoded.features),
            original=original,
        ))
    if points:
        await store.upsert(target, points)
        report.processed += len(points)


async def _drop_deleted(store: Any, source: str, target: str, report: ReprocessReport) -> None:
    async for page in _pages(store, target):
        present = {p.id for p in await store.get(source, [p.id for p in page])}
        gone = [p.id for p in page if p.id not in present]
        if gone:
            report.removed += await store.delete(target, gone)
