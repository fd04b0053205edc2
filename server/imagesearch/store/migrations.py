"""Migrates an embedded data dir forward to the format this code writes (format.py).

Called at start (EdgeStore does it before opening any collection). Each step rewrites one
collection record at a time with write_json_atomic, so a kill -9 leaves every record either
old or new, never half-written; format.json is written last, so a data dir whose marker is
old is simply migrated again on the next start (every step skips what is already done).

A data dir or collection of a newer format is refused with FormatTooNew before anything is
touched.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from imagesearch.store.format import (
    COLLECTION_FORMAT_VERSION,
    DATA_FORMAT_VERSION,
    FORMAT_KEY,
    FormatTooNew,
    FormatUnreadable,
    collection_version,
    read_data_dir_version,
    write_data_dir_version,
    write_json_atomic,
)
from imagesearch.store.layout import SIDECAR_NAME

log = logging.getLogger(__name__)

# Restores build their collection here before one rename into collections/ (snapshots.py);
# whatever a crash leaves here is incomplete and is removed on start.
STAGING_DIR = "collections.staging"

CollectionStep = Callable[[dict[str, Any]], dict[str, Any]]


def _v1_to_v2(raw: dict[str, Any]) -> dict[str, Any]:
    """Format 2 records the version and whether originals are kept (never, before 2)."""
    return {**raw, FORMAT_KEY: 2, "keep_originals": bool(raw.get("keep_originals", False))}


def _v2_to_v3(raw: dict[str, Any]) -> dict[str, Any]:
    """Format 3 reads a format-2 record as it is (format.py): only the version changes. A
    record without a score pin keeps none, which reads as offline/v1, the calibration
    every format-2 server scored with."""
    return {**raw, FORMAT_KEY: 3}


@dataclass(frozen=True)
class Migration:
    """One step from `source` to `source + 1`, applied to each collection record."""

    source: int
    description: str
    collection_step: CollectionStep


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "collection.json gains format_version and keep_originals; data dir gains format.json", _v1_to_v2),
    Migration(2, "live_shard may name shard.alt/; collections may pin a score calibration; "
                 "fingerprints may carry turn_hash (nothing rewritten but the version)", _v2_to_v3),
)


@dataclass
class MigrationReport:
    """What prepare_data_dir found and did."""

    found: int | None  # None: a new data dir
    version: int
    migrated: list[str] = field(default_factory=list)  # collections whose record was rewritten
    steps: list[str] = field(default_factory=list)
    removed_staging: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.migrated or self.steps or self.removed_staging)


def prepare_data_dir(data_dir: Path) -> MigrationReport:
    """Check the data dir's format, migrate it forward in place, log what was done.

    Raises FormatTooNew (nothing touched) when the data dir or a collection is newer than
    this code, FormatUnreadable when a record is corrupt.
    """
    data_dir = Path(data_dir)
    found = read_data_dir_version(data_dir)
    if found is not None and found > DATA_FORMAT_VERSION:
        raise FormatTooNew(f"data dir {data_dir}", found, DATA_FORMAT_VERSION)
    records = _collection_records(data_dir)
    for name, (_, raw) in records.items():
        if collection_version(raw) > COLLECTION_FORMAT_VERSION:
            raise FormatTooNew(f"collection {name!r} in {data_dir}", collection_version(raw), COLLECTION_FORMAT_VERSION)
    report = MigrationReport(found=found, version=DATA_FORMAT_VERSION)
    report.removed_staging = _clear_staging(data_dir)
    for migration in MIGRATIONS:
        for name, (path, raw) in records.items():
            if collection_version(raw) == migration.source:
                raw = migration.collection_step(raw)
                write_json_atomic(path, raw)
                records[name] = (path, raw)
                if name not in report.migrated:
                    report.migrated.append(name)
        if found is not None and found <= migration.source:
            report.steps.append(f"format {migration.source} -> {migration.source + 1}: {migration.description}")
    if found != DATA_FORMAT_VERSION:
        data_dir.mkdir(parents=True, exist_ok=True)
        write_data_dir_version(data_dir)
    _log(data_dir, report)
    return report


def _collection_records(data_dir: Path) -> dict[str, tuple[Path, dict[str, Any]]]:
    """Every complete collection's record (a directory without one is a half-created
    collection that EdgeStore discards)."""
    records: dict[str, tuple[Path, dict[str, Any]]] = {}
    root = data_dir / "collections"
    if not root.is_dir():
        return records
    for directory in sorted(root.iterdir()):
        sidecar = directory / SIDECAR_NAME
        if not sidecar.exists():
            continue
        try:
            records[directory.name] = (sidecar, json.loads(sidecar.read_text(encoding="utf-8")))
        except ValueError as error:
            raise FormatUnreadable(f"{sidecar} is not valid JSON ({error}); restore it from a snapshot") from error
    return records


def _clear_staging(data_dir: Path) -> list[str]:
    staging = data_dir / STAGING_DIR
    if not staging.is_dir():
        return []
    removed = sorted(p.name for p in staging.iterdir())
    shutil.rmtree(staging)
    return removed


def _log(data_dir: Path, report: MigrationReport) -> None:
    for name in report.removed_staging:
        log.warning("removed the incomplete restore of %s left in %s", name, data_dir / STAGING_DIR)
    if report.found is None:
        log.info("new data dir %s at format %d", data_dir, report.version)
    elif report.steps or report.migrated:
        for step in report.steps:
            log.info("migrated data dir %s: %s", data_dir, step)
        log.info("migrated %d collection record(s) of %s to format %d: %s",
                 len(report.migrated), data_dir, report.version, ", ".join(report.migrated) or "-")
    else:
        log.info("data dir %s is at format %d", data_dir, report.version)
