"""How every ONNX Runtime model of this repository opens its session: one file, linked from
the other models' version folders (nsfw/1, text_embedding/1, clip_text/1; image_analysis
puts this folder on its path), as preprocessing.py is.

No Triton import, so tests can load it in-process.
"""

from __future__ import annotations

import onnxruntime as ort


def providers(parameters: dict, args: dict) -> list:
    """ONNX Runtime providers: the CPU's, or CUDA on this instance's GPU first when the
    config's execution_provider is "cuda" (`imagesearch models setup --gpu`; untested here:
    needs onnxruntime-gpu and a GPU)."""
    if parameters.get("execution_provider", "cpu") != "cuda":
        return ["CPUExecutionProvider"]
    device = int(args.get("model_instance_device_id", "0"))
    return [("CUDAExecutionProvider", {"device_id": device}), "CPUExecutionProvider"]


def open_session(path: str, threads: int, session_providers: list) -> ort.InferenceSession:
    """A session on `threads` intra-op threads.

    Inter-op parallelism only helps graphs with parallel branches; these are chains, so one
    inter-op thread and sequential execution. Spinning intra-op threads would burn the cores
    the API server and Qdrant share with Triton between batches; measured here, spinning
    bought under 5% throughput.
    """
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(path, options, providers=session_providers)
