"""CPU per image of each Triton model's Python-backend stub vs the raw in-process encoder.

Starts one Triton on the model repository, sends Corel JPEGs straight to a model with
`clients` concurrent single-image requests (no API server in between), and reads each
process's CPU counters: the stub of each model, tritonserver itself, and this client.
The raw encoder runs in this process on the same bytes at the same batch size Triton
formed (process_time, so the other engineers' load does not count).

    PYTHONPATH=server:clients/python .venv/bin/python -m bench.stub_cpu --images 200
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from tritonclient.grpc.aio import InferenceServerClient, InferInput, InferRequestedOutput

from bench.common import CpuMeter, corel_images, descendants
from bench.encoder import MODEL_DIR, InProcessEncoder
from bench.triton import inference_stats, stats_delta
from imagesearch.launcher.triton import TritonLaunchConfig, TritonProcess, free_port


def stub_pids(triton_pid: int, model: str) -> list[int]:
    """The Python-backend stub process(es) of `model` (its name is in the stub's argv)."""
    found = []
    for pid in descendants(triton_pid):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(b"triton_python_backend_stub" in a for a in argv[:1]) and any(
            f"/{model}/".encode() in a or a.endswith(f"/{model}".encode()) for a in argv
        ):
            found.append(pid)
    return found


async def _drive(url: str, model: str, images: list[bytes], clients: int, outputs: list[str]) -> None:
    client = InferenceServerClient(url)
    queue = list(range(len(images)))

    async def worker() -> None:
        while queue:
            data = images[queue.pop()]
            tensor = InferInput("IMAGE", [1, 1], "BYTES")
            tensor.set_data_from_numpy(np.array([[data]], dtype=np.object_))
            await client.infer(model, [tensor], outputs=[InferRequestedOutput(o) for o in outputs])

    try:
        await asyncio.gather(*(worker() for _ in range(clients)))
    finally:
        await client.close()


async def measure(repository: Path, model: str, outputs: list[str], images: list[bytes], clients: int,
                  models: tuple[str, ...]) -> dict:
    with tempfile.TemporaryDirectory(prefix="stub-cpu-") as work:
        triton = TritonProcess(TritonLaunchConfig(
            model_repository=repository, grpc_port=free_port(), http_port=free_port(),
            metrics_port=free_port(), work_dir=Path(work), models=models))
        await triton.start()
        try:
            await triton.wait_ready(300)
            await _drive(triton.url, model, images[:32], clients, outputs)  # warm-up
            groups = {
                "stub": lambda: stub_pids(triton.pid, model),
                "tritonserver": lambda: [triton.pid],
                "client": lambda: [os.getpid()],
            }
            before = await inference_stats(triton.url, model)
            started = time.perf_counter()
            with CpuMeter(groups) as meter:
                await _drive(triton.url, model, images, clients, outputs)
            wall = time.perf_counter() - started
            stats = stats_delta(before, await inference_stats(triton.url, model))
        finally:
            await triton.stop()
    return {"cpu_ms_per_image": meter.ms_per(len(images)), "images_per_s": round(len(images) / wall, 1),
            "triton": stats}


def raw_cpu_ms(images: list[bytes], batch: int) -> float:
    """CPU ms per image of the in-process encoder (decode + resize + ONNX) at `batch`."""
    encoder = InProcessEncoder()
    encoder.encode(images[:batch])
    started = time.process_time()
    for i in range(0, len(images), batch):
        encoder.encode(images[i:i + batch])
    return round((time.process_time() - started) * 1000 / len(images), 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--model", default="image_embedding")
    parser.add_argument("--outputs", default="EMBEDDING,TEXT_IMAGE_EMBEDDING")
    parser.add_argument("--repository", type=Path, default=MODEL_DIR.parent)
    parser.add_argument("--load", default="image_embedding", help="comma-separated models Triton loads")
    parser.add_argument("--skip-raw", action="store_true")
    args = parser.parse_args()
    images = corel_images(args.images)
    result = asyncio.run(measure(args.repository, args.model, args.outputs.split(","), images, args.clients,
                                 tuple(args.load.split(","))))
    if not args.skip_raw:
        batch = max(1, round(result["triton"]["mean_batch_size"]))
        result["raw_cpu_ms_per_image"] = {batch: raw_cpu_ms(images, batch)}
    print(result)


if __name__ == "__main__":
    main()
