"""The model sets a server can serve: which Triton models fill which vector spaces.

A model set names the encoders a collection uses and the vector spaces they produce. A
collection is created with one set and keeps it (the store records the set's name and,
per space, the model name, version and dimension read from Triton at start-up).

All spaces of a set are filled by one image model (one Triton call per inserted image,
one output per space); a space that text can be searched in also names the text model
that embeds queries into it. This registry is code, not configuration: adding a set
means adding its Triton models too.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping

IMAGE_INPUT = "IMAGE"
TEXT_INPUT = "TEXT"


@dataclass(frozen=True)
class SpaceSpec:
    """One vector space of a model set.

    identity: prefix of the Triton config parameters `<identity>_model_name` and
        `<identity>_model_version` that name this space's vectors; the image model and the
        text model (if any) must both declare them, with the same values.
    """

    name: str
    image_output: str
    identity: str
    text_model: str | None = None
    text_output: str = "EMBEDDING"


@dataclass(frozen=True)
class ModelSetSpec:
    """A named set of encoders and the spaces they produce.

    image_query_space: where an image query (and SearchById) searches.
    text_query_space: where a text query searches; None when text search is impossible.
    setup_hint: what an operator runs to make the set's Triton models.
    """

    name: str
    image_model: str
    spaces: tuple[SpaceSpec, ...]
    image_query_space: str
    text_query_space: str | None
    setup_hint: str

    @property
    def triton_models(self) -> tuple[str, ...]:
        """Every Triton model the set needs, image model first."""
        text = [s.text_model for s in self.spaces if s.text_model]
        return tuple(dict.fromkeys([self.image_model, *text]))

    def space(self, name: str) -> SpaceSpec:
        """The space called `name` (KeyError if the set has none)."""
        for space in self.spaces:
            if space.name == name:
                return space
        raise KeyError(name)


OFFLINE = ModelSetSpec(
    name="offline",
    image_model="image_embedding",
    spaces=(
        # EfficientNet-Lite0 pooled features: image similarity (the first slice's space).
        SpaceSpec(name="image", image_output="EMBEDDING", identity="embedding"),
        # ImageNet class probabilities bridged into MiniLM's text space (docs/quality.md).
        SpaceSpec(
            name="text_image",
            image_output="TEXT_IMAGE_EMBEDDING",
            identity="text_image",
            text_model="text_embedding",
        ),
    ),
    image_query_space="image",
    text_query_space="text_image",
    setup_hint="imagesearch models setup",
)

CLIP = ModelSetSpec(
    name="clip",
    image_model="clip_image",
    # One CLIP space serves both image similarity and text search.
    spaces=(SpaceSpec(name="clip", image_output="EMBEDDING", identity="embedding", text_model="clip_text"),),
    image_query_space="clip",
    text_query_space="clip",
    setup_hint="imagesearch models export-clip CHECKPOINT",
)

# Read-only: the registry is fixed when the module loads.
MODEL_SETS: Mapping[str, ModelSetSpec] = MappingProxyType({spec.name: spec for spec in (OFFLINE, CLIP)})
DEFAULT_MODEL_SET = OFFLINE.name
