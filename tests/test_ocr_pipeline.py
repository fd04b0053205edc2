"""The ocr model's pipeline code in-process (model_repository/ocr/1 has no Triton imports)."""

from __future__ import annotations

import sys

import cv2
import numpy as np
import pytest
from PIL import Image

from conftest import OCR_DATASET, REPO_ROOT

OCR_DIR = REPO_ROOT / "model_repository" / "ocr" / "1"
sys.path.insert(0, str(OCR_DIR))
import ocr_pipeline  # noqa: E402  (the model's own module, as Triton imports it)
from text_detection import DetectionParams, boxes_from_map, grow_box, merge_pieces, order_clockwise  # noqa: E402


@pytest.mark.parametrize("code", [cv2.ROTATE_90_CLOCKWISE, cv2.ROTATE_90_COUNTERCLOCKWISE, cv2.ROTATE_180])
def test_boxes_read_in_a_rotated_image_map_back(code: int) -> None:
    image = np.zeros((30, 50, 3), np.uint8)
    image[7, 41] = 255  # (x=41, y=7)
    rotated = cv2.rotate(image, code)
    ys, xs = np.nonzero(rotated[:, :, 0])
    line = ocr_pipeline.Line("x", 1.0, ((float(xs[0]), float(ys[0])),) * 4)
    assert ocr_pipeline._unrotate(line, code, image.shape).box[0] == (41.0, 7.0)


def test_a_strip_is_padded_and_boxes_shifted_back() -> None:
    strip = np.full((54, 1167, 3), 255, np.uint8)
    padded, top = ocr_pipeline._pad_strip(strip)
    assert top > 0 and padded.shape[0] == 54 + 2 * top
    line = ocr_pipeline.Line("x", 1.0, ((0.0, top + 10.0),) * 4)
    assert ocr_pipeline._shift(line, -top, strip.shape).box[0] == (0.0, 10.0)


def test_a_probability_blob_becomes_a_clockwise_box() -> None:
    prob = np.zeros((64, 128), np.float32)
    prob[20:30, 10:100] = 0.9
    ((box, score),) = boxes_from_map(prob, (256, 128), DetectionParams())
    # The dilated region's rectangle takes in a ring of zeros, as in PaddleOCR.
    assert 0.7 < score <= 0.9
    assert np.array_equal(box, order_clockwise(box))
    # Grown by the unclip distance and scaled x2 to the image: around x 20-200, y 40-60.
    assert box[0][0] < 20 < 200 < box[1][0] and box[0][1] < 40 < 60 < box[2][1]


def _rect(x: float, y: float, w: float, h: float, degrees: float = 0.0) -> np.ndarray:
    points = cv2.boxPoints(((x + w / 2, y + h / 2), (w, h), 0.0))
    turn = cv2.getRotationMatrix2D((0.0, 0.0), degrees, 1.0)
    return order_clockwise((np.c_[points, np.ones(4)] @ turn.T).astype(np.float32))


@pytest.mark.parametrize("degrees", [0.0, 25.0, -90.0])
def test_pieces_of_one_line_are_merged_and_other_boxes_are_not(degrees: float) -> None:
    """"045-" and "29461" of "045-1292 9461" (the middle not detected): one box over both."""
    left, right = _rect(0, 0, 60, 30, degrees), _rect(140, 2, 80, 30, degrees)
    below, tall = _rect(0, 120, 60, 30, degrees), _rect(300, 0, 30, 30 * 3, degrees)
    ((box, _),) = merge_pieces([(left, 0.9), (right, 0.8), (below, 0.9), (tall, 0.9)])
    lengths = sorted((np.linalg.norm(box[0] - box[1]), np.linalg.norm(box[0] - box[3])))
    assert lengths[0] == pytest.approx(32, abs=2) and lengths[1] == pytest.approx(220, abs=3)
    far = _rect(400, 0, 60, 30, degrees)  # a gap of more than 3 heights
    assert merge_pieces([(left, 0.9), (far, 0.9)]) == []


@pytest.mark.skipif(not (OCR_DIR / "rec.onnx").exists(), reason="run `imagesearch models setup` first")
def test_forced_whole_image_rotations_keep_the_reading_and_its_boxes() -> None:
    import onnxruntime as ort

    sessions = [ort.InferenceSession(str(OCR_DIR / n), providers=["CPUExecutionProvider"])
                for n in ("det.onnx", "cls.onnx", "rec.onnx")]
    image = np.asarray(Image.open(OCR_DATASET / "issue_170.png").convert("RGB").rotate(90, expand=True))
    # retry_below above any confidence: every rotation is tried, the best reading kept.
    lines = ocr_pipeline.OcrPipeline(*sessions, ocr_pipeline.PipelineParams(retry_below=1.01)).read(image)
    assert "TEST" in [line.text for line in lines]
    height, width = image.shape[:2]
    for line in lines:
        assert all(0 <= x <= width and 0 <= y <= height for x, y in line.box)


class _FakeClassifier:
    """The line classifier, sure that every crop is upside down."""

    def get_inputs(self):
        return [type("Input", (), {"name": "x"})()]

    def run(self, _outputs, feeds):
        return [np.tile(np.array([[0.001, 0.999]], np.float32), (len(feeds["x"]), 1))]


class _FakeReader:
    """Reads "24H..." from a crop as given, "24" (less sure) from it turned by 180 degrees."""

    def read(self, crops):
        from text_recognition import Reading

        return [Reading("24H专业健身", 0.93) if crop[0, 0, 0] == 1 else Reading("24", 0.66) for crop in crops]


def test_a_line_the_classifier_turns_is_also_read_as_it_was_and_the_surer_reading_kept() -> None:
    from text_recognition import read_upright

    crop = np.zeros((10, 90, 3), np.uint8)
    crop[0, 0] = 1  # the top-left pixel tells the fake reader which way up the crop is
    assert [r.text for r in read_upright(_FakeClassifier(), _FakeReader(), [crop])] == ["24H专业健身"]
    turned = np.ascontiguousarray(crop[::-1, ::-1])
    # Upside down for real: the turned reading is the surer one and is kept.
    assert [r.text for r in read_upright(_FakeClassifier(), _FakeReader(), [turned])] == ["24H专业健身"]


def test_of_lines_over_one_region_the_one_with_the_largest_probability_sum_is_kept() -> None:
    box = tuple(map(tuple, _rect(0, 0, 100, 20).tolist()))
    shifted = tuple(map(tuple, _rect(4, 1, 100, 20).tolist()))
    elsewhere = tuple(map(tuple, _rect(0, 60, 100, 20).tolist()))
    lines = [ocr_pipeline.Line("jacez", 0.95, box), ocr_pipeline.Line("jsycenqz", 0.8, shifted),
             ocr_pipeline.Line("other", 0.55, elsewhere)]
    assert [line.text for line in ocr_pipeline._best_per_region(lines)] == ["jsycenqz", "other"]


class _BrightIsText:
    """A detector whose probability map is 1 where the input is bright."""

    def get_inputs(self):
        return [type("Input", (), {"name": "x"})()]

    def run(self, _outputs, feeds):
        return [(feeds["x"][:, :1] > 0.5).astype(np.float32)]


def test_boxes_found_in_the_tilted_image_map_back_onto_the_text() -> None:
    image = np.zeros((256, 384, 3), np.uint8)
    bar = _rect(100, 110, 160, 30, 20.0)  # a bright line tilted by 20 degrees
    cv2.fillPoly(image, [bar.astype(np.int32)], (255, 255, 255))
    pipeline = ocr_pipeline.OcrPipeline(_BrightIsText(), None, _FakeRecogniser(), ocr_pipeline.PipelineParams())
    for angle in (20.0, -20.0):
        ((box, _),) = pipeline._tilted(image, angle)
        # The box holds the bar (grown by the unclip distance), in the image's own pixels.
        assert cv2.pointPolygonTest(box, tuple(map(float, bar.mean(axis=0))), False) > 0
        assert all(cv2.pointPolygonTest(box, (float(x), float(y)), True) > -3 for x, y in bar)
        assert box[:, 0].max() < 384 and box[:, 1].max() < 256


class _FakeRecogniser:
    def get_inputs(self):
        return [type("Input", (), {"name": "x"})()]

    def get_modelmeta(self):
        return type("Meta", (), {"custom_metadata_map": {"character": "a\nb"}})()


def test_a_dim_line_is_found_on_the_contrast_equalised_copy() -> None:
    image = np.full((256, 384, 3), 170, np.uint8)
    bar = _rect(100, 110, 160, 30)
    # 188 is just below the fake detector's threshold (191); CLAHE lifts the bar to 193.
    cv2.fillPoly(image, [bar.astype(np.int32)], (188, 188, 188))
    params = ocr_pipeline.PipelineParams(enhance_side=256)
    pipeline = ocr_pipeline.OcrPipeline(_BrightIsText(), None, _FakeRecogniser(), params)
    assert pipeline._boxes_at(image, 256, _BrightIsText()) == []
    ((box, _),) = pipeline._enhanced(image)
    assert cv2.pointPolygonTest(box, tuple(map(float, bar.mean(axis=0))), False) > 0
    assert all(cv2.pointPolygonTest(box, (float(x), float(y)), True) > -3 for x, y in bar)


class _Blind(_BrightIsText):
    """A detector that finds nothing."""

    def run(self, _outputs, feeds):
        return [np.zeros_like(feeds["x"][:, :1])]


class _Upright(_FakeClassifier):
    def run(self, _outputs, feeds):
        return [np.tile(np.array([[0.999, 0.001]], np.float32), (len(feeds["x"]), 1))]


class _ReadsA(_FakeRecogniser):
    """CTC output "a" (then blank) at every step: every crop reads "aaa..." with probability 1."""

    def run(self, _outputs, feeds):
        probabilities = np.zeros((len(feeds["x"]), 8, 4), np.float32)  # blank, a, b, space
        probabilities[:, ::2, 1] = probabilities[:, 1::2, 0] = 1.0
        return [probabilities]


@pytest.mark.parametrize("det2_side", [0, 256])
def test_the_second_detector_s_boxes_are_read_where_the_first_finds_none(det2_side: int) -> None:
    image = np.zeros((256, 384, 3), np.uint8)
    bar = _rect(100, 110, 160, 30)
    cv2.fillPoly(image, [bar.astype(np.int32)], (255, 255, 255))
    params = ocr_pipeline.PipelineParams(gate_side=0, tilt_angles=(), det2_side=det2_side)
    pipeline = ocr_pipeline.OcrPipeline(_Blind(), _Upright(), _ReadsA(), params, det2_session=_BrightIsText())
    lines = pipeline.read(image)
    if not det2_side:
        assert lines == []
        return
    (line,) = lines
    assert line.text == "aaaa" and cv2.pointPolygonTest(np.array(line.box, np.float32), (180.0, 125.0), False) > 0


@pytest.mark.parametrize("degrees", [0.0, 30.0, -90.0])
def test_a_box_grows_along_its_line_by_heights_and_across_by_its_pad(degrees: float) -> None:
    box = order_clockwise(cv2.boxPoints(((300.0, 300.0), (90.0, 30.0), degrees)))  # 3:1, 30 high
    grown = grow_box(box, 1.0, 0.25, (1000, 1000))
    lengths = sorted((float(np.linalg.norm(grown[0] - grown[1])), float(np.linalg.norm(grown[0] - grown[3]))))
    assert lengths == pytest.approx([30 + 2 * 7.5, 90 + 2 * 30], abs=0.5)
    assert np.allclose(grown.mean(axis=0), box.mean(axis=0), atol=0.5)
    assert grow_box(box, 50.0, 0.0, (400, 300))[:, 0].max() <= 399


class _CountingDetector(_BrightIsText):
    """_BrightIsText that records the input height of each run."""

    def __init__(self) -> None:
        self.heights: list[int] = []

    def run(self, outputs, feeds):
        self.heights.append(feeds["x"].shape[2])
        return super().run(outputs, feeds)


@pytest.mark.parametrize("bright", [False, True])
def test_the_coarse_map_is_computed_only_where_the_gate_lets_the_image_through(bright: bool) -> None:
    image = np.zeros((256, 384, 3), np.uint8)
    if bright:
        cv2.fillPoly(image, [_rect(100, 110, 160, 30).astype(np.int32)], (255, 255, 255))
    detector = _CountingDetector()
    params = ocr_pipeline.PipelineParams(gate_side=224, gate_pixel_threshold=0.15, gate_box_threshold=0.1,
                                         coarse_side=256)
    gate, coarse = ocr_pipeline.OcrPipeline(detector, None, _FakeRecogniser(), params)._gate(image)
    assert detector.heights == ([224, 256] if bright else [224])
    assert bool(gate) == bool(coarse) == bright
