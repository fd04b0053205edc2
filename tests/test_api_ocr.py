"""OCR through the v1 API, end to end: the real server and its local Triton (which loads
the `ocr` model), the six shared images with text read in place, mixed with Corel photos.

Quality at scale (1,000 Corel photos, generated renders) is measured below the API in
tests/test_ocr_quality.py; this checks the API's contract."""

from __future__ import annotations

import grpc
import pytest
from imagesearch_client import ImageSearchClient, InsertItem
from imagesearch_client.errors import error_reason

from conftest import DATASETS, corel_path

OCR = DATASETS / "ocr"
pytestmark = pytest.mark.skipif(not OCR.is_dir(), reason="the shared OCR images are not available")


@pytest.fixture(scope="module")
def signs(client: ImageSearchClient) -> str:
    """Collection "signs": the six images with text and 40 Corel photos."""
    client.create_collection("signs", ocr_enabled=True, skip_nsfw_scoring=True)
    items = [InsertItem(image=path.read_bytes(), id=path.name) for path in sorted(OCR.iterdir())
             if path.suffix in (".jpg", ".png")]
    items += [InsertItem(image=corel_path(i).read_bytes(), id=f"corel-{i}") for i in range(0, 1000, 25)]
    outcomes = list(client.import_items("signs", items, timeout=900))
    assert all(o.ok for o in outcomes), [o for o in outcomes if not o.ok]
    return "signs"


def test_read_image_text_returns_lines_with_boxes(client: ImageSearchClient) -> None:
    lines = client.read_image_text((OCR / "issue_170.png").read_bytes())
    assert any("TEST" in line.text.upper() for line in lines)
    assert all(len(line.box) == 4 and 0.0 <= line.confidence <= 1.0 for line in lines)


@pytest.mark.parametrize(("query", "expected"), [
    ("MovieShots Dataset", "en.jpg"), ("7858 movies", "en.jpg"), ("TEST", "issue_170.png"),
    ("8885", "return_word_debug.jpg"),  # part of "027-88852022"
    ("CUDA execution", "test_letterbox_like.jpg"),
])
def test_words_find_their_image_first_with_the_matched_lines(
    client: ImageSearchClient, signs: str, query: str, expected: str
) -> None:
    hits = client.search_image_text(signs, query)
    assert hits and hits[0].id == expected, [(h.id, h.score) for h in hits[:3]]
    assert 0.5 <= hits[0].score <= 1.0 and hits[0].matched_lines
    assert all(len(line.box) == 4 for line in hits[0].matched_lines)


def test_get_item_returns_its_lines_and_photos_without_text_have_none(client: ImageSearchClient, signs: str) -> None:
    assert any("TEST" in line.text.upper() for line in client.get_item(signs, "issue_170.png").text_lines)
    assert "ocr" not in client.get_item(signs, "corel-0").missing_features
    assert client.search_image_text(signs, "zebra crossing") == []


def test_bad_text_queries(client: ImageSearchClient, signs: str) -> None:
    for text in ("", "   ", "x" * 300):
        with pytest.raises(grpc.RpcError) as caught:
            client.search_image_text(signs, text)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, text
    client.create_collection("no-ocr", skip_nsfw_scoring=True)
    with pytest.raises(grpc.RpcError) as caught:
        client.search_image_text("no-ocr", "TEST")
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error_reason(caught.value) == "OCR_NOT_ENABLED" and "ocr_enabled" in caught.value.details()
