"""Collection aliases of the embedded store: another name for a collection, switched
atomically, accepted wherever a collection name is (searches, inserts, every call).

Kept in `<data_dir>/aliases.json` ({"aliases": {alias: collection}}), rewritten whole with
write_json_atomic on each change, so a crash leaves the old table or the new one. Aliases
and collection names share one namespace (as in Qdrant): an alias may not take a
collection's name, nor a collection an alias's. Deleting a collection deletes its aliases
(as Qdrant does).
"""

from __future__ import annotations

import json
from pathlib import Path

from imagesearch.store.base import Alias, AliasExists, AliasNotFound, check_collection_name
from imagesearch.store.format import FormatUnreadable, write_json_atomic

ALIASES_FILE = "aliases.json"

class AliasTable:
    """The aliases of one data dir, in memory and on disk. Not locked: the store calls it
    under its catalog lock."""

    def __init__(self, data_dir: Path) -> None:
        self._path = Path(data_dir) / ALIASES_FILE
        self._aliases: dict[str, str] = {}
        if self._path.exists():
            try:
                self._aliases = dict(json.loads(self._path.read_text(encoding="utf-8"))["aliases"])
            except (ValueError, KeyError, TypeError) as error:
                raise FormatUnreadable(f"{self._path} is unreadable ({error})") from error

    def resolve(self, name: str) -> str:
        """The collection `name` stands for: itself unless it is an alias."""
        return self._aliases.get(name, name)

    def is_alias(self, name: str) -> bool:
        return name in self._aliases

    def list(self, collection: str | None = None) -> list[Alias]:
        """All aliases (or those of `collection`), sorted by name."""
        return [Alias(a, c) for a, c in sorted(self._aliases.items()) if collection in (None, c)]

    def create(self, alias: str, collection: str, collections: set[str]) -> Alias:
        """Add `alias` -> `collection`; AliasExists if the name is an alias or a collection."""
        check_collection_name(alias)
        if alias in self._aliases or alias in collections:
            raise AliasExists(f"{alias!r} is already an alias or a collection")
        return self._save({**self._aliases, alias: collection}, alias)

    def switch(self, alias: str, collection: str) -> Alias:
        """Point an existing alias at another collection, in one atomic write."""
        if alias not in self._aliases:
            raise AliasNotFound(f"alias {alias!r} does not exist")
        return self._save({**self._aliases, alias: collection}, alias)

    def delete(self, alias: str) -> None:
        """Remove an alias; AliasNotFound if missing."""
        if alias not in self._aliases:
            raise AliasNotFound(f"alias {alias!r} does not exist")
        self._save({a: c for a, c in self._aliases.items() if a != alias}, None)

    def drop_collection(self, collection: str) -> list[str]:
        """Remove the aliases of a deleted collection; returns their names."""
        gone = [a for a, c in self._aliases.items() if c == collection]
        if gone:
            self._save({a: c for a, c in self._aliases.items() if c != collection}, None)
        return gone

    def _save(self, aliases: dict[str, str], changed: str | None) -> Alias:
        write_json_atomic(self._path, {"aliases": aliases})
        self._aliases = aliases
        return Alias(changed, aliases[changed]) if changed else Alias("", "")
