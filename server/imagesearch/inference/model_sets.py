"""A model set bound to a running Triton: its record (what collections keep) and encoders."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from imagesearch.inference.analysis import ANALYSIS_MODEL, AnalysisRequest, ImageAnalyser, ImageAnalysisResult
from imagesearch.inference.errors import InferenceUnavailable
from imagesearch.inference.triton_client import ImageEncoder, TextEncoder
from imagesearch.models.model_sets import ModelSetSpec
from imagesearch.store.base import ModelRecord, ModelSetRecord, SpaceRecord


class ModelSetMismatch(InferenceUnavailable):
    """The Triton models of a set disagree about a space's identity: a deployment error."""


@dataclass(frozen=True)
class ServedModelSet:
    """A model set whose Triton models this server talks to."""

    spec: ModelSetSpec
    record: ModelSetRecord
    image_encoder: ImageEncoder
    text_encoders: dict[str, TextEncoder]  # by Triton model name
    # Triton's image_analysis pipeline where it serves this set's image model (the offline
    # set on a Triton that loaded it): inserts then decode once, in Triton.
    analyser: ImageAnalyser | None = None

    async def analyse_image(self, image: bytes, nsfw: bool) -> ImageAnalysisResult:
        """Every space's vector, the NSFW score if `nsfw`, and the fingerprint's parts, from
        one decode in the pipeline; vectors keyed by space. Only when `analyser` is set."""
        if self.analyser is None:
            raise InferenceUnavailable(f"model set {self.spec.name!r} has no {ANALYSIS_MODEL} pipeline")
        outputs = {space.image_output: space.name for space in self.spec.spaces}
        result = await self.analyser.analyse(image, AnalysisRequest(tuple(outputs), nsfw=nsfw, fingerprint=True))
        return replace(result, vectors={space: result.vectors[output] for output, space in outputs.items()})

    async def embed_image(self, image: bytes) -> dict[str, np.ndarray]:
        """One vector per space of the set, from one run of the image model."""
        outputs = {space.image_output: space.name for space in self.spec.spaces}
        rows = await self.image_encoder.embed_outputs(image, tuple(outputs))
        return {space: rows[output] for output, space in outputs.items()}

    async def embed_image_for(self, image: bytes, space: str) -> np.ndarray:
        """The image's vector in one space (what an image query needs)."""
        output = self.spec.space(space).image_output
        return (await self.image_encoder.embed_outputs(image, (output,)))[output]

    async def embed_text(self, text: str, space: str) -> np.ndarray:
        """The text's vector in `space`; KeyError if text cannot be embedded there."""
        spec = self.spec.space(space)
        if spec.text_model is None:
            raise KeyError(space)
        return await self.text_encoders[spec.text_model].embed(text, spec.text_output)

    async def is_ready(self) -> bool:
        """True when every model of the set accepts requests; never raises."""
        if not await self.image_encoder.is_ready():
            return False
        for encoder in self.text_encoders.values():
            if not await encoder.is_ready():
                return False
        return True

    async def close(self) -> None:
        """Close every encoder's channel."""
        await self.image_encoder.close()
        for encoder in self.text_encoders.values():
            await encoder.close()
        if self.analyser is not None:
            await self.analyser.close()


async def bind_model_set(spec: ModelSetSpec, url: str, timeout_s: float) -> ServedModelSet:
    """Connect to the set's Triton models and read each space's identity.

    Raises InferenceUnavailable when a model is missing or not ready, ModelSetMismatch when
    a text model declares a different identity (name, version, dimension) than the image
    model for the same space: their vectors would not be comparable.
    """
    image_encoder = ImageEncoder(url, spec.image_model, timeout_s)
    text_encoders = {
        name: TextEncoder(url, name, timeout_s) for name in spec.triton_models if name != spec.image_model
    }
    try:
        spaces = []
        for space in spec.spaces:
            info = await image_encoder.info(space.identity, space.image_output)
            if space.text_model is not None:
                text_info = await text_encoders[space.text_model].info(space.identity, space.text_output)
                if text_info != info:
                    raise ModelSetMismatch(
                        f"model set {spec.name!r}, space {space.name!r}: {spec.image_model} makes {info} but "
                        f"{space.text_model} makes {text_info}; re-run `{spec.setup_hint}`"
                    )
            spaces.append(SpaceRecord(space.name, ModelRecord(info.name, info.version, info.dimension)))
    except BaseException:
        # Not served after all: close the channels opened above.
        await image_encoder.close()
        for encoder in text_encoders.values():
            await encoder.close()
        raise
    record = ModelSetRecord(spec.name, tuple(spaces))
    analyser = await _pipeline(spec, url, timeout_s, record)
    return ServedModelSet(spec, record, image_encoder, text_encoders, analyser)


async def _pipeline(spec: ModelSetSpec, url: str, timeout_s: float, record: ModelSetRecord) -> ImageAnalyser | None:
    """The image_analysis pipeline if Triton serves it for this set's image model with the
    same identity in every space; None otherwise (inserts then call the models one by one)."""
    if spec.image_model != "image_embedding":
        return None
    analyser = ImageAnalyser(url, timeout_s=timeout_s)
    try:
        if await analyser.is_ready():
            for space, served in zip(spec.spaces, record.spaces):
                info = await analyser.info(space.identity, space.image_output)
                if (info.name, info.version, info.dimension) != (
                    served.model.name, served.model.version, served.model.dimension
                ):
                    raise ModelSetMismatch(
                        f"{ANALYSIS_MODEL} makes {info} in space {space.name!r} but {spec.image_model} makes "
                        f"{served.model}: their config.pbtxt identity parameters must be equal"
                    )
            return analyser
    except BaseException:
        await analyser.close()
        raise
    await analyser.close()
    return None
