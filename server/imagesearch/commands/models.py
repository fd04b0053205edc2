"""`imagesearch models ...`: prepare the Triton model repository."""

from __future__ import annotations

import argparse
from pathlib import Path

from imagesearch.config import Settings

EXPORT_CLIP_FORMS = """checkpoint forms:
  openai/clip-vit-base-patch32                   Hugging Face CLIP on the hub (internet once)
  ./my-clip                                      Hugging Face CLIP folder (save_pretrained)
  open_clip:ViT-B-32/laion2b_s34b_b79k           OpenCLIP architecture/pretrained tag (internet once)
  open_clip:hf-hub:ORG/REPO                      OpenCLIP model on the Hugging Face hub (internet once)
  ./my-open-clip                                 OpenCLIP folder with open_clip_config.json and weights
  weights.safetensors --open-clip-arch ViT-B-32  OpenCLIP state dict (.pt/.pth/.bin/.safetensors) of an
                                                 architecture: a built-in name or a model config JSON"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Adds `models setup` and `models export-clip`."""
    models = subparsers.add_parser("models", help="prepare the Triton model repository")
    actions = models.add_subparsers(dest="action", required=True)
    setup = actions.add_parser(
        "setup", help="convert the packaged EfficientNet-Lite0 and all-MiniLM-L6-v2 weights to ONNX (offline model set)"
    )
    setup.add_argument(
        "--model-repository", type=Path, default=Settings().model_repository,
        help="the Triton model repository to write into (default: %(default)s)",
    )
    setup.add_argument("--force", action="store_true", help="export again even if the ONNX file exists")
    setup.add_argument(
        "--gpu", action="store_true",
        help="also rewrite the offline set's and the NSFW/insert pipeline configs for a GPU (KIND_GPU instances, "
        "ONNX Runtime's CUDA provider; needs onnxruntime-gpu; untested here)",
    )
    setup.set_defaults(func=setup_models)

    export_clip = actions.add_parser(
        "export-clip", help="export a CLIP checkpoint's towers to ONNX as the clip_image/clip_text Triton models",
        description="Export a Hugging Face or OpenCLIP CLIP checkpoint's towers and tokenizer as the clip_image "
        "and clip_text Triton models.",
        epilog=EXPORT_CLIP_FORMS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    export_clip.add_argument("checkpoint", help="the checkpoint, in one of the forms below")
    export_clip.add_argument(
        "--open-clip-arch", metavar="ARCH",
        help="CHECKPOINT is an OpenCLIP weights file of this architecture (built-in name or model config .json)",
    )
    export_clip.add_argument(
        "--model-repository", type=Path, default=Settings().model_repository,
        help="the Triton model repository to write into (default: %(default)s)",
    )
    export_clip.add_argument(
        "--name", help="model name recorded with collections (default: clip:<checkpoint> or open_clip:<checkpoint>)"
    )
    export_clip.set_defaults(func=export_clip_models)


def setup_models(ns: argparse.Namespace) -> int:
    """Writes the offline set's ONNX files (once)."""
    from imagesearch.models.setup import ensure_model_repository

    for path in ensure_model_repository(ns.model_repository, force=ns.force):
        print(f"wrote {path}")
    if ns.gpu:
        from imagesearch.models.setup import write_gpu_configs

        for path in write_gpu_configs(ns.model_repository):
            print(f"wrote {path} (GPU variant)")
    print(f"model repository ready: {ns.model_repository}")
    return 0


def export_clip_models(ns: argparse.Namespace) -> int:
    """Exports a CLIP checkpoint as the clip set."""
    from imagesearch.models.clip import export_clip

    done = export_clip(ns.checkpoint, ns.model_repository, ns.name, ns.open_clip_arch)
    print(f"wrote {done.image_onnx} (max |ONNX - PyTorch| {done.image_max_diff:.1e})")
    print(f"wrote {done.text_onnx} (max |ONNX - PyTorch| {done.text_max_diff:.1e})")
    print(f"CLIP model set ready: {done.dimension}-d, {done.image_size}px, version {done.version}; restart the "
          "server, then create collections with --model-set clip")
    return 0
