"""Face detection, landmarks and embeddings on a decoded RGB image, with dlib's models.

Pure dlib + NumPy, no Triton imports and no decoding: model.py decodes (preprocessing.py,
shared with the other image models, applies EXIF orientation) and hands an upright RGB
array here, so a later decode-once pipeline can feed the same pixels to every model.

Stages, and why (measurements in config.pbtxt and docs/quality.md):
1. The image is resized so its longer side is `detect_long_side` pixels (down for large
   photos, up for small ones): HOG's fixed 80x80 window then finds faces down to 80 / 1024
   of the longer side, and the cost per image is the same whatever the photo's size.
2. dlib's HOG frontal-face detector proposes boxes with a score (SVM margin) >= `min_score`.
   A box scoring below `trust_score` is kept only if dlib's CNN (MMOD) detector, run on a
   150-pixel crop around it, also finds a face there: on Corel-1K, HOG alone found "faces"
   in flowers, a bus wheel, a branch and a statue (all scoring < 0.6), and the CNN found
   none of them while confirming most real faces. The CNN on whole images would cost ~90x
   HOG's time; on one small crop per doubtful box it costs about one HOG pass.
3. The 5-point shape predictor places landmarks (eye corners, nose) in each box.
4. Each face is aligned on its landmarks into a 150x150 chip (dlib.get_face_chip, the
   alignment dlib's ResNet was trained with).
5. All chips of all images of a Triton batch go through the ResNet in one call (embed_chips):
   128-d descriptors; two faces of the same person are at Euclidean distance < 0.6.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import dlib
import numpy as np
from PIL import Image

SHAPE_PREDICTOR_FILE = "shape_predictor_5_face_landmarks.dat"
RESNET_FILE = "dlib_face_recognition_resnet_model_v1.dat"
CNN_DETECTOR_FILE = "mmod_human_face_detector.dat"
MODEL_FILES = (SHAPE_PREDICTOR_FILE, RESNET_FILE, CNN_DETECTOR_FILE)
CHIP_SIZE = 150  # the ResNet's input size
CHIP_PADDING = 0.25  # dlib's default context around the aligned face
EMBEDDING_DIM = 128
LANDMARKS = 5


@dataclass(frozen=True)
class DetectSettings:
    """How faces are looked for (config.pbtxt parameters of the same names).

    detect_long_side: the longer side, in pixels, the image is resized to before detection.
    max_upscale: small images are enlarged at most this much (a 256-pixel thumbnail is not
        blown up 4x into blur that makes false faces).
    min_score: HOG SVM margin a box needs; dlib's own default is 0.
    trust_score: HOG margin from which a box is a face without the CNN's confirmation.
    verify_crop: side of the square crop, in pixels, the CNN checks a doubtful box in.
    verify_margin: context added around the box on each side, as a fraction of its width.
    max_faces: faces kept per image, best scores first (bounds one request's work).
    """

    detect_long_side: int = 1024
    max_upscale: float = 3.0
    min_score: float = 0.0
    trust_score: float = 1.0
    verify_crop: int = 150
    verify_margin: float = 0.4
    max_faces: int = 64


@dataclass(frozen=True)
class DetectedFace:
    """One face in the coordinates of the upright image given to detect()."""

    box: tuple[float, float, float, float]  # left, top, right, bottom (pixels)
    score: float  # HOG SVM margin, >= DetectSettings.min_score
    landmarks: np.ndarray  # float32 [5, 2] (x, y) in dlib's 5-point order
    chip: np.ndarray  # uint8 [150, 150, 3] aligned face for the embedding network


class FaceModels:
    """The dlib models, loaded once per Triton model instance."""

    def __init__(self, model_dir: str) -> None:
        missing = [f for f in MODEL_FILES if not os.path.exists(os.path.join(model_dir, f))]
        if missing:
            raise FileNotFoundError(
                f"{', '.join(missing)} missing in {model_dir}: run `imagesearch models setup`"
            )
        self.detector = dlib.get_frontal_face_detector()
        self.shape_predictor = dlib.shape_predictor(os.path.join(model_dir, SHAPE_PREDICTOR_FILE))
        self.resnet = dlib.face_recognition_model_v1(os.path.join(model_dir, RESNET_FILE))
        self.cnn_detector = dlib.cnn_face_detection_model_v1(os.path.join(model_dir, CNN_DETECTOR_FILE))


def working_scale(width: int, height: int, settings: DetectSettings) -> float:
    """The factor that brings the longer side to detect_long_side (capped at max_upscale)."""
    return min(settings.detect_long_side / max(width, height), settings.max_upscale)


def detect(models: FaceModels, image: Image.Image, settings: DetectSettings) -> list[DetectedFace]:
    """Every face of an upright RGB image, best detector score first, with aligned chips.

    Detection and landmarks run on the resized working image; boxes and landmarks are
    returned in `image`'s own pixel coordinates.
    """
    scale = working_scale(image.width, image.height, settings)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    working = image if size == image.size else image.resize(size, Image.Resampling.BILINEAR)
    pixels = np.asarray(working, dtype=np.uint8)
    rects, scores, _ = models.detector.run(pixels, 0, settings.min_score)
    ranked = sorted(zip(rects, scores), key=lambda pair: -pair[1])
    faces: list[DetectedFace] = []
    for rect, score in ranked:
        if len(faces) == settings.max_faces:
            break
        if score < settings.trust_score and not _confirmed(models, working, rect, settings):
            continue
        shape = models.shape_predictor(pixels, rect)
        points = np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float32)
        chip = dlib.get_face_chip(pixels, shape, size=CHIP_SIZE, padding=CHIP_PADDING)
        faces.append(
            DetectedFace(
                box=_clip_box(rect, scale, image.width, image.height),
                score=float(score),
                landmarks=points / scale,
                chip=np.asarray(chip, dtype=np.uint8),
            )
        )
    return faces


def embed_chips(models: FaceModels, chips: list[np.ndarray]) -> np.ndarray:
    """128-d descriptors of aligned chips, float32 [n, 128], in one batched network call."""
    if not chips:
        return np.zeros((0, EMBEDDING_DIM), np.float32)
    descriptors = models.resnet.compute_face_descriptor(chips)
    return np.array([np.asarray(d) for d in descriptors], dtype=np.float32).reshape(-1, EMBEDDING_DIM)


def _confirmed(models: FaceModels, working: Image.Image, rect, settings: DetectSettings) -> bool:
    """Whether the CNN detector finds a face in a square crop around a HOG box."""
    margin = rect.width() * settings.verify_margin
    crop = working.crop(
        (round(rect.left() - margin), round(rect.top() - margin), round(rect.right() + margin), round(rect.bottom() + margin))
    ).resize((settings.verify_crop, settings.verify_crop), Image.Resampling.BILINEAR)
    return len(models.cnn_detector(np.asarray(crop, dtype=np.uint8), 0)) > 0


def _clip_box(rect, scale: float, width: int, height: int) -> tuple[float, float, float, float]:
    """A working-image rectangle in original pixels, clipped to the image (HOG boxes can
    overhang the border by a few pixels for faces at the edge)."""
    left = min(max(rect.left() / scale, 0.0), float(width))
    top = min(max(rect.top() / scale, 0.0), float(height))
    right = min(max((rect.right() + 1) / scale, 0.0), float(width))
    bottom = min(max((rect.bottom() + 1) / scale, 0.0), float(height))
    return (left, top, right, bottom)
