"""The text_embedding Triton model: tokenises inside Triton, batches, matches ONNX in-process."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import onnxruntime as ort
import tritonclient.grpc as triton_grpc
from tokenizers import Tokenizer

from conftest import REPO_ROOT, ServerProcess
from imagesearch.inference.triton_client import TextEncoder

MODEL_DIR = REPO_ROOT / "model_repository" / "text_embedding" / "1"
TEXTS = [f"photo number {i} of a beach at sunset" for i in range(16)]


def executed_texts(triton_port: int) -> dict[int, int]:
    """Executions per batch size of the text model, from Triton's own statistics."""
    with triton_grpc.InferenceServerClient(f"127.0.0.1:{triton_port}") as triton:
        stats = triton.get_inference_statistics("text_embedding", as_json=True)
    model = stats["model_stats"][0]
    return {int(b["batch_size"]): int(b["compute_infer"]["count"]) for b in model.get("batch_stats", [])}


def in_process(texts: list[str]) -> np.ndarray:
    """What the model should return: the query template, the tokenizer, the ONNX graph."""
    tokenizer = Tokenizer.from_file(str(MODEL_DIR / "tokenizer.json"))
    tokenizer.enable_padding()
    encodings = tokenizer.encode_batch([f"a photo of {t}" for t in texts])
    session = ort.InferenceSession(str(MODEL_DIR / "model.onnx"), providers=["CPUExecutionProvider"])
    (out,) = session.run(["embedding"], {
        "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
        "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
    })
    return out


def test_text_model_batches_and_matches_in_process(server: ServerProcess) -> None:
    async def embed_all() -> list[np.ndarray]:
        encoder = TextEncoder(f"127.0.0.1:{server.triton_grpc_port}", "text_embedding")
        try:
            return await asyncio.gather(*(encoder.embed(t) for t in TEXTS))
        finally:
            await encoder.close()

    before = executed_texts(server.triton_grpc_port)
    served = np.stack(asyncio.run(embed_all()))
    deadline = time.monotonic() + 10
    while True:  # Triton counts an execution just after it answers
        after = executed_texts(server.triton_grpc_port)
        grown = {s: n - before.get(s, 0) for s, n in after.items() if n > before.get(s, 0)}
        if sum(s * n for s, n in grown.items()) >= len(TEXTS) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert any(size > 1 for size in grown), grown
    assert served.shape == (16, 384)
    np.testing.assert_allclose(np.linalg.norm(served, axis=1), 1.0, atol=1e-5)
    # Padding inside a Triton batch does not change a text's vector.
    np.testing.assert_allclose(served, in_process(TEXTS), atol=1e-5)
