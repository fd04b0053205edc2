"""Finds what a new image duplicates, and the groups of duplicates in a whole collection,
through the vector store (exact: a SHA-256 payload index; near: vector neighbours)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import numpy as np

from imagesearch.dedup.fingerprint import Fingerprint
from imagesearch.dedup.rule import NearDuplicateRule
from imagesearch.store.base import StoredPoint, VectorStore
from imagesearch.store.collection import SHA256_PATH
from imagesearch.store.filters import Filter, Match

SCAN_PAGE = 256
SCAN_CONCURRENCY = 8


@dataclass(frozen=True)
class Duplicate:
    """A stored item an image duplicates."""

    id: str
    exact: bool
    score: float


@dataclass(frozen=True)
class DuplicatePair:
    """Two stored items judged copies of one image."""

    a: str
    b: str
    score: float


@dataclass(frozen=True)
class DuplicateGroup:
    """Items linked (transitively) by duplicate pairs; ids sorted."""

    ids: tuple[str, ...]
    pairs: tuple[DuplicatePair, ...]


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        root = self.parent.setdefault(x, x)
        while root != self.parent[root]:
            self.parent[root] = self.parent[self.parent[root]]  # path halving
            root = self.parent[root]
        return root

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


class DuplicateDetector:
    """Duplicate checks against one store, by `rule`."""

    def __init__(self, store: VectorStore, rule: NearDuplicateRule = NearDuplicateRule()) -> None:
        self._store = store
        self.rule = rule

    async def find(
        self, name: str, vector: np.ndarray, fingerprint: Fingerprint, exclude_id: str, space: str | None = None
    ) -> Duplicate | None:
        """The stored item (other than `exclude_id`) the image duplicates, exact first.

        `vector` is the image's vector in `space`, the collection's image-similarity space
        (None: its first space)."""
        same_bytes = Filter(must=(Match(SHA256_PATH, fingerprint.sha256),))
        for hit in await self._store.search(name, vector, 2, space=space, flt=same_bytes):
            if hit.id != exclude_id:
                return Duplicate(id=hit.id, exact=True, score=1.0)
        candidates = [
            hit
            for hit in await self._store.search(
                name, vector, self.rule.neighbours + 1, self.rule.min_similarity, space=space, with_fingerprint=True
            )
            if hit.id != exclude_id and hit.fingerprint
        ][: self.rule.neighbours]
        scores = await asyncio.gather(
            *(
                asyncio.to_thread(self.rule.score, fingerprint, Fingerprint.from_payload(hit.fingerprint), hit.score)
                for hit in candidates
            )
        )
        best = max(zip(scores, candidates), key=lambda pair: pair[0], default=None)
        if best is None or best[0] < self.rule.min_copy_score:
            return None
        return Duplicate(id=best[1].id, exact=False, score=best[0])

    async def groups(
        self, name: str, threshold: float | None = None, space: str | None = None
    ) -> list[DuplicateGroup]:
        """Every group of duplicates in the collection, largest first, judged in `space`
        (the image-similarity space; None: the collection's first space).

        Each item is compared with its `rule.neighbours` nearest neighbours from the
        vector index (above rule.min_similarity), so the work grows linearly with the
        collection, not quadratically.
        """
        threshold = self.rule.min_copy_score if threshold is None else threshold
        links = _UnionFind()
        pairs: dict[tuple[str, str], float] = {}
        offset: str | None = None
        while True:
            page, offset = await self._store.scroll(name, offset, SCAN_PAGE)
            # A few items at a time keep both the store and the worker threads busy; a pair
            # reached from both sides at once is merely judged twice.
            slots = asyncio.Semaphore(SCAN_CONCURRENCY)

            async def link(point: StoredPoint) -> None:
                async with slots:
                    fingerprint = Fingerprint.from_payload(point.fingerprint)
                    await self._link_neighbours(
                        name, space, point.id, _vector(point, space), fingerprint, threshold, links, pairs
                    )

            await asyncio.gather(*(link(p) for p in page if _vector(p, space) is not None and p.fingerprint))
            if offset is None:
                break
        members: dict[str, list[str]] = {}
        for item in links.parent:
            members.setdefault(links.find(item), []).append(item)
        groups = []
        for ids in members.values():
            if len(ids) < 2:
                continue
            group_ids = tuple(sorted(ids))
            inside = set(group_ids)
            group_pairs = tuple(
                DuplicatePair(a, b, score) for (a, b), score in sorted(pairs.items())
                if score >= threshold and a in inside
            )
            groups.append(DuplicateGroup(group_ids, group_pairs))
        return sorted(groups, key=lambda g: (-len(g.ids), g.ids))

    async def _link_neighbours(
        self,
        name: str,
        space: str | None,
        item_id: str,
        vector: np.ndarray,
        fingerprint: Fingerprint,
        threshold: float,
        links: _UnionFind,
        pairs: dict[tuple[str, str], float],
    ) -> None:
        hits = await self._store.search(
            name, vector, self.rule.neighbours + 1, self.rule.min_similarity, space=space, with_fingerprint=True
        )
        # Each pair is judged once, from whichever side finds it first.
        todo = [h for h in hits if h.id != item_id and h.fingerprint and _key(item_id, h.id) not in pairs]
        scores = await asyncio.gather(
            *(
                asyncio.to_thread(self.rule.score, fingerprint, Fingerprint.from_payload(h.fingerprint), h.score)
                for h in todo
            )
        )
        for hit, score in zip(todo, scores):
            key = _key(item_id, hit.id)
            pairs[key] = score
            if score >= threshold:
                links.union(*key)
        links.find(item_id)


def _vector(point: StoredPoint, space: str | None) -> np.ndarray | None:
    """The point's vector in `space` (None: its only or first one)."""
    if not point.vectors:
        return None
    if space is None:
        return next(iter(point.vectors.values()))
    return point.vectors.get(space)


def _key(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a < b else (b, a)
