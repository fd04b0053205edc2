"""Checks on request fields, done before any work is spent on a request. Each error names
the field (as the proto spells it), the limit and the fix."""

from __future__ import annotations

import io
import math
import re
import uuid
import warnings
from typing import Any

from google.protobuf import json_format, struct_pb2
from imagesearch_client import names
from imagesearch_client.v1 import imagesearch_pb2 as pb
from imagesearch_client.v1.error_reason_pb2 import ErrorReason
from PIL import Image

from imagesearch.api.errors import invalid
from imagesearch.limits import (
    DEFAULT_PAGE_SIZE,
    DEFAULT_TOP_K,
    MAX_DESCRIPTION_CHARS,
    MAX_ITEM_ID_LENGTH,
    MAX_ITEMS_PER_BATCH,
    MAX_METADATA_BYTES,
    MAX_METADATA_DEPTH,
    MAX_PAGE_SIZE,
    MAX_TEXT_CHARS,
    MAX_TOP_K,
)
from imagesearch.store.base import InvalidCollectionName, ModerationPolicy, check_collection_name

# Keys become segments of filter paths ("camera.make"), so no '.', brackets or quotes.
METADATA_KEY_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# Doubles hold every integer up to 2**53 exactly; larger whole numbers stay floats.
MAX_EXACT_INTEGER = 2**53
# Formats the image model decodes. Anything else is refused up front, by name.
ACCEPTED_FORMATS = frozenset({"JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF", "MPO"})


def collection_id(value: str, field: str = "collection_id") -> str:
    """A collection ID, or INVALID_ARGUMENT naming `field`."""
    try:
        check_collection_name(value)
    except InvalidCollectionName as exc:
        raise invalid(field, str(exc), ErrorReason.RESOURCE_NAME_INVALID) from None
    return value


def collection_of(name: str, field: str = "parent") -> str:
    """The collection ID of a "collections/{collection}" name in `field`."""
    try:
        return collection_id(names.parse_collection_name(name), field)
    except names.InvalidName as exc:
        raise invalid(field, str(exc), ErrorReason.RESOURCE_NAME_INVALID) from None


def item_of(name: str, field: str = "name") -> names.ItemName:
    """The collection and item IDs of an item name in `field`."""
    try:
        parsed = names.parse_item_name(name)
    except names.InvalidName as exc:
        raise invalid(field, str(exc), ErrorReason.RESOURCE_NAME_INVALID) from None
    collection_id(parsed.collection_id, field)
    item_id(parsed.item_id, field)
    return parsed


def items_of(parent: str, item_names: Any, field: str = "names") -> tuple[str, list[str]]:
    """The collection ID and 1..1000 item IDs of a batch call; every name in the parent."""
    collection = collection_of(parent)
    if not item_names:
        raise invalid(field, f"{field} must name at least one item")
    if len(item_names) > MAX_ITEMS_PER_BATCH:
        raise invalid(field, f"at most {MAX_ITEMS_PER_BATCH} items per call, got {len(item_names)}: split the batch")
    ids = []
    for index, name in enumerate(item_names):
        parsed = item_of(name, f"{field}[{index}]")
        if parsed.collection_id != collection:
            raise invalid(f"{field}[{index}]", f"{name[:120]!r} is not in {parent!r}: batch calls take one collection")
        ids.append(parsed.item_id)
    return collection, ids


def top_k(request: Any) -> int:
    """The request's top_k: default 10, else 1..1000."""
    if not request.HasField("top_k"):
        return DEFAULT_TOP_K
    if not 1 <= request.top_k <= MAX_TOP_K:
        raise invalid("top_k", f"top_k must be between 1 and {MAX_TOP_K}, got {request.top_k}", limit=MAX_TOP_K)
    return request.top_k


def page_size(value: int, field: str = "page_size") -> int:
    """A page size: 0 means the default (100), else 1..1000."""
    if value == 0:
        return DEFAULT_PAGE_SIZE
    if not 1 <= value <= MAX_PAGE_SIZE:
        raise invalid(field, f"{field} must be between 1 and {MAX_PAGE_SIZE} (0: {DEFAULT_PAGE_SIZE}), got {value}",
                      limit=MAX_PAGE_SIZE)
    return value


def min_score(request: Any) -> float:
    """The request's min_score: default 0, else a number in 0..1."""
    if not request.HasField("min_score"):
        return 0.0
    return unit_interval(request, "min_score")


def unit_interval(message: Any, field: str, path: str = "") -> float:
    """The message's `field`, which must be a number in 0..1 (`path` names it in errors)."""
    value = getattr(message, field)
    where = path or field
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise invalid(where, f"{where} must be between 0 and 1, got {value}")
    return value


def moderation(collection: pb.Collection) -> ModerationPolicy:
    """A new collection's NSFW policy."""
    max_score = (
        unit_interval(collection, "max_nsfw_score", "collection.max_nsfw_score")
        if collection.HasField("max_nsfw_score") else None
    )
    if max_score is not None and collection.skip_nsfw_scoring:
        raise invalid(
            "collection.max_nsfw_score", "max_nsfw_score needs NSFW scoring: drop it or drop skip_nsfw_scoring"
        )
    return ModerationPolicy(scoring=not collection.skip_nsfw_scoring, max_score=max_score)


def description(value: str, field: str = "collection.description") -> str:
    """A collection description: at most 1000 characters."""
    if len(value) > MAX_DESCRIPTION_CHARS:
        raise invalid(field, f"{field} is {len(value)} characters long; the limit is {MAX_DESCRIPTION_CHARS}")
    return value


def duplicate_policy(value: int) -> int:
    """The insert's duplicate policy; UNSPECIFIED means ALLOW."""
    if value not in pb.DuplicatePolicy.values():
        raise invalid("duplicate_policy", f"duplicate_policy {value} is unknown: use ALLOW, SKIP, REJECT or IGNORE")
    return pb.DUPLICATE_POLICY_ALLOW if value == pb.DUPLICATE_POLICY_UNSPECIFIED else value


def item_id(value: str, field: str = "item_id", *, allow_empty: bool = False) -> str:
    """An item ID; an empty one becomes a fresh UUID when `allow_empty`."""
    if not value:
        if allow_empty:
            return str(uuid.uuid4())
        raise invalid(field, f"{field} must not be empty")
    if len(value) > MAX_ITEM_ID_LENGTH:
        raise invalid(field, f"{field} is {len(value)} characters long; the limit is {MAX_ITEM_ID_LENGTH}",
                      limit=MAX_ITEM_ID_LENGTH)
    if not value.isprintable():
        raise invalid(field, f"{field} must not contain control characters")
    return value


def metadata(value: struct_pb2.Struct, field: str = "item.metadata") -> dict[str, Any]:
    """The metadata Struct as a plain dict: at most 64 KiB serialised, objects nested at
    most 8 deep, keys that filters can name, finite numbers; whole numbers become ints
    (Struct has only doubles) so that integer matches and integer indexes see them."""
    size = value.ByteSize()
    if size > MAX_METADATA_BYTES:
        raise invalid(field, f"{field} is {size} bytes; the limit is {MAX_METADATA_BYTES}", limit=MAX_METADATA_BYTES)
    try:
        plain = json_format.MessageToDict(value)
    except ValueError:  # protobuf refuses NaN and infinities in a Struct's JSON form
        raise invalid(field, f"{field} holds NaN or infinity: JSON has no such numbers; store null or text") from None
    return _checked_value(plain, field, field, 0)


def _checked_value(value: Any, path: str, field: str, depth: int) -> Any:
    if isinstance(value, dict):
        if depth >= MAX_METADATA_DEPTH:
            raise invalid(field, f"{field} nests objects more than {MAX_METADATA_DEPTH} deep (at {path})")
        for key in value:
            if not METADATA_KEY_PATTERN.fullmatch(key):
                raise invalid(
                    field,
                    f"{field} key {key[:80]!r} at {path} is invalid: use 1-64 characters from letters, digits, "
                    "'_' and '-' ('.' separates levels in filters)",
                )
        return {key: _checked_value(item, f"{path}.{key}", field, depth + 1) for key, item in value.items()}
    if isinstance(value, list):
        return [_checked_value(item, f"{path}[]", field, depth) for item in value]
    if isinstance(value, float):
        if not math.isfinite(value):
            raise invalid(field, f"{field} holds {value} at {path}: JSON has no NaN or infinity; store null or text")
        if value.is_integer() and abs(value) <= MAX_EXACT_INTEGER:
            return int(value)
    return value


def image_header(data: bytes, max_pixels: int, field: str = "image.content") -> bytes:
    """Refuses empty, unrecognised and oversized images by their header alone.

    Decoding happens in the Triton model; this only reads the header, so it costs
    microseconds and stops decompression bombs before they reach the encoder.
    """
    if not data:
        raise invalid(field, f"{field} is empty: send the encoded bytes of a JPEG, PNG or WebP file",
                      ErrorReason.IMAGE_EMPTY)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data)) as img:
                fmt, (width, height) = img.format, img.size
        except Image.DecompressionBombError as exc:
            raise invalid(field, f"{field} declares too many pixels (decompression bomb?): {exc}",
                          ErrorReason.IMAGE_TOO_LARGE, limit=max_pixels) from None
        except Exception:  # noqa: BLE001 - Pillow raises many types for garbage
            raise invalid(
                field, f"{field} is not a recognised image ({len(data)} bytes): send a JPEG, PNG or WebP file",
                ErrorReason.IMAGE_UNDECODABLE,
            ) from None
    if fmt not in ACCEPTED_FORMATS:
        raise invalid(field, f"{field} format {fmt} is not accepted; use one of {', '.join(sorted(ACCEPTED_FORMATS))}",
                      ErrorReason.IMAGE_FORMAT_UNSUPPORTED)
    if width * height > max_pixels:
        raise invalid(
            field,
            f"{field} declares {width}x{height} = {width * height} pixels; the limit is {max_pixels} "
            "(decompression bomb guard, setting max_image_pixels)",
            ErrorReason.IMAGE_TOO_LARGE, limit=max_pixels,
        )
    if width == 0 or height == 0:
        raise invalid(field, f"{field} has no pixels ({width}x{height})", ErrorReason.IMAGE_UNDECODABLE)
    return data


def query_text(text: str, field: str = "text") -> str:
    """A text query: not blank, at most MAX_TEXT_CHARS characters, no control characters.

    The limit is generous for a search box yet keeps a request's tokenisation cheap; the
    text model truncates at its own token limit anyway.
    """
    stripped = text.strip()
    if not stripped:
        raise invalid(field, f"{field} is empty: type what the images should show, e.g. 'a beach at sunset'")
    if len(stripped) > MAX_TEXT_CHARS:
        raise invalid(field, f"{field} is {len(stripped)} characters long; the limit is {MAX_TEXT_CHARS}",
                      limit=MAX_TEXT_CHARS)
    if not stripped.replace("\n", " ").replace("\t", " ").isprintable():
        raise invalid(field, f"{field} must not contain control characters")
    return stripped


def model_set_name(name: str, known: Any, field: str = "collection.model_set") -> str:
    """`name` if it is one of the `known` model sets, else INVALID_ARGUMENT listing them."""
    if name not in known:
        raise invalid(field, f"unknown model set {name!r}; known sets: {', '.join(sorted(known))}")
    return name
