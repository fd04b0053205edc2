"""Reading the text in images through Triton's `ocr` model (PP-OCR) over gRPC (asyncio)."""

from __future__ import annotations

import numpy as np
from tritonclient.grpc.aio import InferInput, InferRequestedOutput

from imagesearch.inference.errors import InferenceUnavailable
from imagesearch.inference.triton_client import INPUT_NAME, TritonModelClient
from imagesearch.ocr.lines import OcrLine, lines_from_model_output

OCR_MODEL = "ocr"
OUTPUT_NAME = "LINES"
# Reading a text-heavy image costs seconds on a loaded 2-core CPU (docs/benchmarks.md): more
# than the encoders' 30 s default would be wrong for a document scan, so a longer default.
DEFAULT_TIMEOUT_S = 120.0


class OcrReader(TritonModelClient):
    """Client of the `ocr` model: encoded image bytes -> the lines of text it shows."""

    def __init__(self, url: str, model: str = OCR_MODEL, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        super().__init__(url, model, timeout_s)

    async def read(self, image: bytes) -> tuple[OcrLine, ...]:
        """The image's lines in reading order; () when it shows no text.

        One image per request, so Triton's batcher groups concurrent callers. Raises
        InvalidImage (undecodable or too large) or InferenceUnavailable.
        """
        tensor = InferInput(INPUT_NAME, [1, 1], "BYTES")
        tensor.set_data_from_numpy(np.array([[image]], dtype=np.object_))
        result = await self._call(
            self._client.infer(
                self._model, [tensor], outputs=[InferRequestedOutput(OUTPUT_NAME)], client_timeout=self._timeout_s
            )
        )
        output = result.as_numpy(OUTPUT_NAME)
        if output is None or output.size != 1:
            raise InferenceUnavailable(f"model {self._model!r} returned no single {OUTPUT_NAME}")
        try:
            return lines_from_model_output(bytes(output.reshape(-1)[0]))
        except (ValueError, KeyError, TypeError) as exc:
            raise InferenceUnavailable(f"model {self._model!r} returned malformed lines: {exc}") from exc

    async def model_identity(self) -> tuple[str, str]:
        """(name, version) of the OCR model as its config declares them, to record with collections."""
        response = await self._call(
            self._client.get_model_config(self._model, as_json=True, client_timeout=self._timeout_s)
        )
        parameters = {k: v["string_value"] for k, v in response["config"].get("parameters", {}).items()}
        try:
            return parameters["ocr_model_name"], parameters["ocr_model_version"]
        except KeyError as exc:
            raise InferenceUnavailable(f"model {self._model!r} config lacks {exc.args[0]}") from exc
