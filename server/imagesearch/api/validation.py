"""Checks on request fields, done before any work is spent on a request."""

from __future__ import annotations

import io
import math
import re
import uuid
import warnings
from typing import Any

from google.protobuf import json_format, struct_pb2
from PIL import Image

from imagesearch.api.errors import invalid
from imagesearch.store.base import InvalidCollectionName, ModerationPolicy, check_collection_name
from imagesearch.v1 import imagesearch_pb2

DEFAULT_TOP_K = 10
MAX_TOP_K = 1000
MAX_ID_LENGTH = 256
MAX_IDS_PER_CALL = 1000
MAX_METADATA_BYTES = 64 * 1024
MAX_METADATA_DEPTH = 8
# Keys become segments of filter paths ("camera.make"), so no '.', brackets or quotes.
METADATA_KEY_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# Doubles hold every integer up to 2**53 exactly; larger whole numbers stay floats.
MAX_EXACT_INTEGER = 2**53
MAX_TEXT_CHARS = 1000
# Formats the image model decodes. Anything else is refused up front, by name.
ACCEPTED_FORMATS = frozenset({"JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF", "MPO"})


def collection_name(name: str, field: str = "collection") -> str:
    """The collection name, or INVALID_ARGUMENT naming `field`."""
    try:
        check_collection_name(name)
    except InvalidCollectionName as exc:
        raise invalid(field, str(exc)) from None
    return name


def top_k(request: Any) -> int:
    """The request's top_k: default 10, else 1..1000."""
    if not request.HasField("top_k"):
        return DEFAULT_TOP_K
    if not 1 <= request.top_k <= MAX_TOP_K:
        raise invalid("top_k", f"top_k must be between 1 and {MAX_TOP_K}, got {request.top_k}")
    return request.top_k


def min_score(request: Any) -> float:
    """The request's min_score: default 0, else a number in 0..1."""
    if not request.HasField("min_score"):
        return 0.0
    return unit_interval(request, "min_score")


def unit_interval(request: Any, field: str) -> float:
    """The request's `field`, which must be a number in 0..1."""
    value = getattr(request, field)
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise invalid(field, f"{field} must be between 0 and 1, got {value}")
    return value


def moderation(request: imagesearch_pb2.CreateCollectionRequest) -> ModerationPolicy:
    """The new collection's NSFW policy."""
    max_score = unit_interval(request, "max_nsfw_score") if request.HasField("max_nsfw_score") else None
    if max_score is not None and request.skip_nsfw_scoring:
        raise invalid(
            "max_nsfw_score", "max_nsfw_score needs NSFW scoring: drop it or drop skip_nsfw_scoring"
        )
    return ModerationPolicy(scoring=not request.skip_nsfw_scoring, max_score=max_score)


def duplicate_policy(value: int) -> int:
    """The insert's duplicate policy, one of the DuplicatePolicy values."""
    if value not in imagesearch_pb2.DuplicatePolicy.values():
        raise invalid("duplicate_policy", f"duplicate_policy {value} is unknown: use ALLOW, SKIP, REJECT or IGNORE")
    return value


def item_id(value: str, field: str = "id", *, allow_empty: bool = False) -> str:
    """A caller's item id; an empty one becomes a fresh UUID when `allow_empty`."""
    if not value:
        if allow_empty:
            return str(uuid.uuid4())
        raise invalid(field, f"{field} must not be empty")
    if len(value) > MAX_ID_LENGTH:
        raise invalid(field, f"{field} is {len(value)} characters long; the limit is {MAX_ID_LENGTH}")
    if not value.isprintable():
        raise invalid(field, f"{field} must not contain control characters")
    return value


def item_ids(values: Any, field: str = "ids") -> list[str]:
    """A list of 1..1000 valid ids."""
    if not values:
        raise invalid(field, f"{field} must name at least one id")
    if len(values) > MAX_IDS_PER_CALL:
        raise invalid(field, f"at most {MAX_IDS_PER_CALL} ids per call, got {len(values)}")
    return [item_id(v, field) for v in values]


def metadata(value: struct_pb2.Struct) -> dict[str, Any]:
    """The metadata Struct as a plain dict: at most 64 KiB serialised, objects nested at
    most 8 deep, keys that filters can name; whole numbers become ints (Struct has only
    doubles) so that integer matches and integer indexes see them."""
    size = value.ByteSize()
    if size > MAX_METADATA_BYTES:
        raise invalid("metadata", f"metadata is {size} bytes; the limit is {MAX_METADATA_BYTES}")
    return _checked_value(json_format.MessageToDict(value), "metadata", 0)


def _checked_value(value: Any, path: str, depth: int) -> Any:
    if isinstance(value, dict):
        if depth >= MAX_METADATA_DEPTH:
            raise invalid("metadata", f"metadata nests objects more than {MAX_METADATA_DEPTH} deep (at {path})")
        for key in value:
            if not METADATA_KEY_PATTERN.fullmatch(key):
                raise invalid(
                    "metadata",
                    f"metadata key {key[:80]!r} at {path} is invalid: use 1-64 characters from letters, digits, "
                    "'_' and '-' ('.' separates levels in filters)",
                )
        return {key: _checked_value(item, f"{path}.{key}", depth + 1) for key, item in value.items()}
    if isinstance(value, list):
        return [_checked_value(item, f"{path}[]", depth) for item in value]
    if isinstance(value, float) and value.is_integer() and abs(value) <= MAX_EXACT_INTEGER:
        return int(value)
    return value


def image_bytes(data: bytes, max_pixels: int, field: str = "image") -> bytes:
    """Refuses empty, unrecognised and oversized images by their header alone.

    Decoding happens in the Triton model; this only reads the header, so it costs
    microseconds and stops decompression bombs before they reach the encoder.
    """
    if not data:
        raise invalid(field, f"{field} is empty: send the encoded bytes of a JPEG, PNG or WebP file")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data)) as img:
                fmt, (width, height) = img.format, img.size
        except Image.DecompressionBombError as exc:
            raise invalid(field, f"{field} declares too many pixels (decompression bomb?): {exc}") from None
        except Exception:  # noqa: BLE001 - Pillow raises many types for garbage
            raise invalid(
                field, f"{field} is not a recognised image ({len(data)} bytes): send a JPEG, PNG or WebP file"
            ) from None
    if fmt not in ACCEPTED_FORMATS:
        raise invalid(field, f"{field} format {fmt} is not accepted; use one of {', '.join(sorted(ACCEPTED_FORMATS))}")
    if width * height > max_pixels:
        raise invalid(
            field,
            f"{field} declares {width}x{height} = {width * height} pixels; the limit is {max_pixels} "
            "(decompression bomb guard, setting max_image_pixels)",
        )
    if width == 0 or height == 0:
        raise invalid(field, f"{field} has no pixels ({width}x{height})")
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
        raise invalid(field, f"{field} is {len(stripped)} characters long; the limit is {MAX_TEXT_CHARS}")
    if not stripped.replace("\n", " ").replace("\t", " ").isprintable():
        raise invalid(field, f"{field} must not contain control characters")
    return stripped


def model_set_name(name: str, known: Any, field: str = "model_set") -> str:
    """`name` if it is one of the `known` model sets, else INVALID_ARGUMENT listing them."""
    if name not in known:
        raise invalid(field, f"unknown model set {name!r}; known sets: {', '.join(sorted(known))}")
    return name
