"""The `ocr` Triton model (PP-OCR) served by a real tritonserver, through OcrReader."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from conftest import COREL, OCR_DATASET, corel_path
from imagesearch.inference.errors import InvalidImage
from imagesearch.inference.ocr import OcrReader
from imagesearch.ocr.matching import match_lines
from imagesearch.ocr.query import MatchMode, parse_query

pytestmark = [
    pytest.mark.asyncio(loop_scope="session"),
    pytest.mark.skipif(not OCR_DATASET.is_dir() or not COREL.is_dir(), reason="shared datasets are not available"),
]


def found(lines, text: str, mode: MatchMode = MatchMode.PHRASE) -> bool:
    return match_lines(parse_query(text, mode), lines) is not None


async def test_reads_english_lines_with_boxes_inside_the_image(ocr_reader: OcrReader) -> None:
    data = (OCR_DATASET / "en.jpg").read_bytes()
    lines = await ocr_reader.read(data)
    assert found(lines, "MovieShots Dataset") and found(lines, "7858 movies")
    width, height = Image.open(io.BytesIO(data)).size
    for line in lines:
        assert 0.5 <= line.confidence <= 1.0
        xs, ys = [p[0] for p in line.box], [p[1] for p in line.box]
        assert 0 <= min(xs) < max(xs) <= width and 0 <= min(ys) < max(ys) <= height


async def test_reads_chinese(ocr_reader: OcrReader) -> None:
    lines = await ocr_reader.read((OCR_DATASET / "ch_en_num.jpg").read_bytes())
    assert found(lines, "正品促销") and found(lines, "强力去污")


async def test_exif_orientation_is_applied(ocr_reader: OcrReader) -> None:
    data = (OCR_DATASET / "img_exif_orientation.jpg").read_bytes()
    assert Image.open(io.BytesIO(data)).getexif().get(0x0112, 1) != 1  # stored rotated
    lines = await ocr_reader.read(data)
    assert found(lines, "我是中国人")
    # Boxes are in the upright image: a horizontal line is wider than tall there.
    box = np.array(next(line.box for line in lines if "中国" in line.text))
    assert np.ptp(box[:, 0]) > np.ptp(box[:, 1])


async def test_upside_down_text_is_read(ocr_reader: OcrReader) -> None:
    image = Image.open(OCR_DATASET / "issue_170.png").convert("RGB").rotate(180)
    out = io.BytesIO()
    image.save(out, format="PNG")
    assert found(await ocr_reader.read(out.getvalue()), "TEST")


async def test_photo_without_text_has_no_lines(ocr_reader: OcrReader) -> None:
    # Corel 0-99 are African village scenes; 100-199 beaches: no lettering in 150.
    assert await ocr_reader.read(corel_path(150).read_bytes()) == ()


async def test_undecodable_bytes_are_invalid(ocr_reader: OcrReader) -> None:
    with pytest.raises(InvalidImage):
        await ocr_reader.read(b"not an image at all")
