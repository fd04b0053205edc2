"""Triton Python-backend model: UTF-8 text in, L2-normalised sentence embedding out.

Tokenises with the model's own tokenizer.json (`tokenizers`, WordPiece for MiniLM) and
runs the ONNX transformer, whose graph already pools and normalises. Shared by every
text encoder in this repository whose ONNX graph takes `input_ids` (and, if it
declares them, `attention_mask` and `token_type_ids`): clip_text/1/model.py and
text_tokens.py are links to these files. The `text_clean` parameter names OpenCLIP's
text cleaning, for towers exported from OpenCLIP (see text_tokens.py).
"""

from __future__ import annotations

import json
import os

import numpy as np
import triton_python_backend_utils as pb_utils

from onnx_session import open_session, providers
from text_tokens import encode, load_tokenizer, text_cleaner

INPUT_NAME = "TEXT"
OUTPUT_NAME = "EMBEDDING"
ONNX_OUTPUT = "embedding"




class TritonPythonModel:
    """One instance owns one tokenizer and one ONNX Runtime session."""

    def initialize(self, args: dict) -> None:
        """Load tokenizer.json and model.onnx from the version folder."""
        config = json.loads(args["model_config"])
        parameters = {k: v["string_value"] for k, v in config.get("parameters", {}).items()}
        version_dir = os.path.join(args["model_repository"], args["model_version"])
        paths = [os.path.join(version_dir, name) for name in ("model.onnx", "tokenizer.json")]
        for path in paths:
            if not os.path.exists(path):
                raise pb_utils.TritonModelException(
                    f"{path} is missing: run `imagesearch models setup` to export it"
                )
        # "{}" alone leaves the text as it is (what CLIP's exporter writes).
        self._template = parameters["query_template"]
        # Pad to the longest text of each batch; the pad id is the tokenizer's own.
        self._tokenizer = load_tokenizer(paths[1], int(parameters["max_tokens"]), int(parameters["pad_id"]))
        # Configs written before OpenCLIP support have no text_clean: no cleaning.
        self._clean = text_cleaner(parameters.get("text_clean", "none"))
        self._session = open_session(paths[0], int(parameters["intra_op_threads"]), providers(parameters, args))
        self._inputs = {i.name for i in self._session.get_inputs()}

    def execute(self, requests: list) -> list:
        """Embed the texts of all requests of the batch in one ONNX run."""
        texts: list[str] = []
        counts: list[int] = []
        for request in requests:
            items = pb_utils.get_input_tensor_by_name(request, INPUT_NAME).as_numpy().reshape(-1)
            texts.extend(
                self._clean(self._template.format(bytes(item).decode("utf-8", errors="replace"))) for item in items
            )
            counts.append(len(items))
        # Each graph takes the inputs it declares: BERT-style graphs token_type_ids too,
        # OpenCLIP's text towers input_ids alone (they pool at the end-of-text token).
        feeds = encode(self._tokenizer, texts)
        (embeddings,) = self._session.run([ONNX_OUTPUT], {k: v for k, v in feeds.items() if k in self._inputs})
        responses, start = [], 0
        for count in counts:
            tensor = pb_utils.Tensor(OUTPUT_NAME, embeddings[start:start + count].astype(np.float32))
            responses.append(pb_utils.InferenceResponse(output_tensors=[tensor]))
            start += count
        return responses

    def finalize(self) -> None:
        """Release the session before the stub exits."""
        self._session = None
