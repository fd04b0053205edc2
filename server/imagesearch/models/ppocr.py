"""The PP-OCR ONNX files of the `ocr` Triton model, copied as shipped by the `rapidocr` package.

The package is only located here, never imported (importing it would pull in its own
runtime, config and download code); neither the server nor the Triton model imports it.
Why PP-OCRv6 small from `rapidocr` 3.10.0 rather than PP-OCRv4 from
`rapidocr-onnxruntime` 1.4.4: docs/quality.md ("OCR").
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path
from typing import Callable

PACKAGE = "rapidocr"
# model_repository/ocr/1/<name> <- rapidocr/models/<file>
FILES = {
    "det.onnx": "PP-OCRv6_det_small.onnx",
    "cls.onnx": "ch_ppocr_mobile_v2.0_cls_mobile.onnx",
    "rec.onnx": "PP-OCRv6_rec_small.onnx",
}


def package_models_dir() -> Path:
    """The installed package's models folder (ImportError naming the package when absent)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"{PACKAGE} is not installed", name=PACKAGE)
    return Path(next(iter(spec.submodule_search_locations))) / "models"


def copier(name: str) -> Callable[[Path], None]:
    """An export function for ModelArtifact: copy the package's file for `name` to the target."""

    def copy(target: Path) -> None:
        source = package_models_dir() / FILES[name]
        if not source.is_file():
            raise FileNotFoundError(f"{source} is missing: reinstall {PACKAGE}==3.10.0")
        tmp = target.with_suffix(".tmp")
        shutil.copyfile(source, tmp)
        tmp.replace(target)

    return copy


def ocr_model_present(repository: Path) -> bool:
    """Whether `imagesearch models setup` placed the OCR model in `repository` (its config
    and every ONNX file): the server then loads it and offers OCR."""
    folder = Path(repository) / "ocr"
    return (folder / "config.pbtxt").exists() and all((folder / "1" / name).exists() for name in FILES)
