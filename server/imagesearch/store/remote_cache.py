"""What an API replica remembers of a Qdrant collection's settings, and for how long.

Several API replicas share one Qdrant. Each keeps a collection's settings (model set,
moderation policy) so that a search or an insert costs one round trip, not two; another
replica may meanwhile delete the collection and create another under the same name. The
copy is therefore trusted for `ttl_s` only (Settings.qdrant_cache_ttl_s, 5 s by default),
then read again. The settings are versioned: every creation stamps a new `generation`, and
`version` counts changes of one generation's settings (none can change after creation yet,
so it stays 1), so a refresh can tell a re-created collection from the same one.

Guarantees with N replicas (docs/deploy.md): a deleted collection is seen at once by a
replica's next data call (Qdrant answers NOT_FOUND and the copy is dropped); a collection
re-created under the same name with another model set or moderation policy is seen by every
replica within ttl_s; in that window a replica may still check inserts against the old
policy, and its writes with the old model set's vectors are refused by Qdrant (unknown vector
names or dimensions) rather than stored wrongly when the sets differ.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, replace
from typing import Any, Callable, Mapping

from imagesearch.store.base import ModelSetRecord, ModerationPolicy, OcrPolicy, ScorePin
from imagesearch.store.format import REMOTE_COLLECTION_FORMAT_VERSION
from imagesearch.store.records import model_set_from_dict, model_set_to_dict

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CollectionSettings:
    """A collection's settings as recorded in its Qdrant metadata."""

    model_set: ModelSetRecord
    moderation: ModerationPolicy
    created_at: float
    # New at every creation: a name deleted and created again is another collection.
    generation: str
    # Changes of this generation's settings; 1 at creation, +1 per UpdateCollection.
    version: int
    description: str = ""
    ocr: OcrPolicy = OcrPolicy()
    score_pin: ScorePin = ScorePin()

    @classmethod
    def new(
        cls, model_set: ModelSetRecord, moderation: ModerationPolicy, description: str = "", ocr: OcrPolicy = OcrPolicy(),
        score_pin: ScorePin = ScorePin(),
    ) -> "CollectionSettings":
        return cls(model_set, moderation, time.time(), uuid.uuid4().hex, 1, description, ocr, score_pin)

    def updated(self, moderation: ModerationPolicy | None, description: str | None) -> "CollectionSettings":
        """The next version of this generation's settings."""
        return replace(
            self,
            moderation=self.moderation if moderation is None else moderation,
            description=self.description if description is None else description,
            version=self.version + 1,
        )

    @classmethod
    def from_metadata(cls, raw: Mapping[str, Any]) -> "CollectionSettings":
        """Inverse of to_metadata; collections from before versioning read as version 1 of
        a generation named after their creation time."""
        created_at = float(raw["created_at"])
        return cls(
            model_set=model_set_from_dict(raw),
            moderation=ModerationPolicy.from_dict(raw),
            created_at=created_at,
            generation=str(raw.get("generation") or f"created-{created_at!r}"),
            version=int(raw.get("settings_version", 1)),
            description=str(raw.get("description", "")),
            ocr=OcrPolicy.from_dict(raw),
            score_pin=ScorePin.from_dict(raw),
        )

    def to_metadata(self) -> dict[str, Any]:
        """The JSON kept under our key of the collection's Qdrant metadata."""
        return {
            "model_set": model_set_to_dict(self.model_set),
            "created_at": self.created_at,
            "generation": self.generation,
            "settings_version": self.version,
            "format_version": REMOTE_COLLECTION_FORMAT_VERSION,
            "description": self.description,
            **self.moderation.to_dict(),
            **self.ocr.to_dict(),
            **self.score_pin.to_dict(),
        }


@dataclass(frozen=True)
class _Entry:
    settings: CollectionSettings
    read_at: float


class SettingsCache:
    """Per-collection CollectionSettings, each trusted for ttl_s after it was read."""

    def __init__(self, ttl_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        if ttl_s < 0:
            raise ValueError("the cache TTL must be >= 0 seconds")
        self._ttl_s = ttl_s
        self._clock = clock
        self._entries: dict[str, _Entry] = {}

    def get(self, name: str) -> CollectionSettings | None:
        """The settings read less than ttl_s ago, else None (read them again)."""
        entry = self._entries.get(name)
        if entry is None or self._clock() - entry.read_at >= self._ttl_s:
            return None
        return entry.settings

    def put(self, name: str, settings: CollectionSettings) -> CollectionSettings:
        """Remember freshly read settings; logs when they are not the ones held before."""
        old = self._entries.get(name)
        if old is not None and (old.settings.generation, old.settings.version) != (settings.generation, settings.version):
            log.info(
                "collection %r changed behind this replica: generation %s v%d -> %s v%d",
                name, old.settings.generation, old.settings.version, settings.generation, settings.version,
            )
        self._entries[name] = _Entry(settings, self._clock())
        return settings

    def drop(self, name: str) -> None:
        """Forget a collection (deleted, or reported missing by Qdrant)."""
        self._entries.pop(name, None)
