"""ModelSetRecord <-> JSON-able dict, as both stores persist it next to a collection.

The first slice recorded a single `model` (one unnamed vector per point). Such a record
reads back as a model set with one space named "" (Qdrant's unnamed vector), which no
served model set equals, so the API refuses searches and inserts on it with
FAILED_PRECONDITION while Get, Count and Delete keep working.
"""

from __future__ import annotations

from typing import Any

from imagesearch.store.base import ModelRecord, ModelSetRecord, SpaceRecord

# What a first-slice collection is read as: it was built by the offline image model.
LEGACY_SET_NAME = "offline"
LEGACY_SPACE_NAME = ""


def model_set_to_dict(record: ModelSetRecord) -> dict[str, Any]:
    """The record as plain JSON types."""
    return {
        "name": record.name,
        "spaces": [
            {
                "name": space.name,
                "model": {
                    "name": space.model.name,
                    "version": space.model.version,
                    "dimension": space.model.dimension,
                },
            }
            for space in record.spaces
        ],
    }


def model_set_from_dict(raw: dict[str, Any]) -> ModelSetRecord:
    """Read a record written by model_set_to_dict (under "model_set"), or a first-slice
    record (a bare "model"); KeyError/ValueError when neither is there."""
    if "model_set" in raw:
        body = raw["model_set"]
        return ModelSetRecord(
            name=body["name"],
            spaces=tuple(SpaceRecord(name=s["name"], model=_model(s["model"])) for s in body["spaces"]),
        )
    return ModelSetRecord(name=LEGACY_SET_NAME, spaces=(SpaceRecord(LEGACY_SPACE_NAME, _model(raw["model"])),))


def _model(raw: dict[str, Any]) -> ModelRecord:
    return ModelRecord(name=raw["name"], version=raw["version"], dimension=int(raw["dimension"]))
