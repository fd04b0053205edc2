"""The face_embedding model (dlib) served by a real tritonserver, through FaceDetector."""

from __future__ import annotations

import asyncio
import io

import numpy as np
import pytest
from conftest import corel_path
from faces_data import FACES, TWO_PEOPLE, single_person_photos
from imagesearch.faces.scoring import SAME_PERSON_DISTANCE
from imagesearch.inference.errors import InvalidImage
from imagesearch.inference.faces import FaceDetector
from imagesearch.inference.triton_client import EncoderInfo, ImageEncoder
from imagesearch.launcher.triton import TritonProcess
from imagesearch.models.setup import ensure_model_repository
from PIL import Image
from test_inference import MODEL_REPOSITORY, START_TIMEOUT_S, launch_config

pytestmark = [
    pytest.mark.asyncio(loop_scope="session"),
    pytest.mark.skipif(not FACES.is_dir(), reason="the shared face photos are not available"),
]


@pytest.fixture(scope="module")
async def triton(tmp_path_factory: pytest.TempPathFactory):
    ensure_model_repository(MODEL_REPOSITORY)
    process = TritonProcess(launch_config(tmp_path_factory.mktemp("triton"), ("face_embedding",)))
    await process.start()
    try:
        await process.wait_ready(START_TIMEOUT_S)
        yield process
    finally:
        await process.stop()


@pytest.fixture(scope="module")
async def detector(triton: TritonProcess):
    client = FaceDetector(triton.url)
    yield client
    await client.close()


async def test_info_comes_from_the_model_config(detector: FaceDetector) -> None:
    assert await detector.info() == EncoderInfo("dlib-resnet-v1-5point-chip150", "1", 128)


async def test_every_face_found_with_box_landmarks_and_embedding(detector: FaceDetector) -> None:
    photos = single_person_photos()
    detections = await asyncio.gather(*(detector.detect(p.path.read_bytes()) for p in photos))
    for photo, detection in zip(photos, detections):
        assert len(detection.faces) == 1, photo
        (face,) = detection.faces
        left, top, right, bottom = face.box
        assert 0 <= left < right <= detection.width and 0 <= top < bottom <= detection.height
        # The five landmarks (eye corners, nose) lie inside the face box.
        for x, y in face.landmarks:
            assert left <= x <= right and top <= y <= bottom, (photo, face)
        assert face.detector_score >= 0 and 0.5 <= face.confidence < 1
        assert face.embedding.shape == (128,) and np.isfinite(face.embedding).all()
    two = await detector.detect(TWO_PEOPLE.read_bytes())
    assert len(two.faces) == 2


async def test_same_person_closer_than_06_others_farther(detector: FaceDetector) -> None:
    photos = single_person_photos()
    detections = await asyncio.gather(*(detector.detect(p.path.read_bytes()) for p in photos))
    vectors = np.stack([d.faces[0].embedding for d in detections])
    distances = np.linalg.norm(vectors[:, None] - vectors[None], axis=-1)
    for i, a in enumerate(photos):
        for j, b in enumerate(photos):
            if i != j:
                assert (distances[i, j] < SAME_PERSON_DISTANCE) == (a.person == b.person), (a, b, distances[i, j])


async def test_boxes_are_in_original_pixels_after_draft_decoding_and_exif(detector: FaceDetector) -> None:
    # biden.jpg is 970x2204: the model decodes it at half size; boxes must come back full size.
    big = FACES / "biden" / "biden.jpg"
    original = (await detector.detect(big.read_bytes())).faces[0]
    image = Image.open(big).convert("RGB")
    # The same photo stored turned 90 degrees counter-clockwise, with the EXIF tag that says so.
    rotated = image.transpose(Image.Transpose.ROTATE_90)  # stored lying on its side
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 CW to display
    out = io.BytesIO()
    rotated.save(out, format="JPEG", quality=95, exif=exif.tobytes())
    upright = await detector.detect(out.getvalue())
    assert (upright.width, upright.height) == image.size
    assert np.allclose(upright.faces[0].box, original.box, atol=12), (upright.faces[0].box, original.box)
    assert np.linalg.norm(upright.faces[0].embedding - original.embedding) < 0.1


async def test_no_face_is_an_empty_answer_and_garbage_is_invalid(detector: FaceDetector) -> None:
    empty = await detector.detect(corel_path(450).read_bytes())  # an elephant
    assert empty.faces == () and (empty.width, empty.height) == Image.open(corel_path(450)).size
    with pytest.raises(InvalidImage):
        await detector.detect(b"not an image")


async def test_concurrent_requests_match_lone_ones(detector: FaceDetector, triton: TritonProcess) -> None:
    # Concurrent requests share one ResNet call (model.py): each must get its own faces back.
    photos = [p.path.read_bytes() for p in single_person_photos()] + [TWO_PEOPLE.read_bytes()]
    alone = [await detector.detect(data) for data in photos]
    together = await asyncio.gather(*(detector.detect(data) for data in photos))
    for a, b in zip(alone, together):
        assert len(a.faces) == len(b.faces)
        for fa, fb in zip(a.faces, b.faces):
            assert np.allclose(fa.embedding, fb.embedding, atol=1e-5)
    # Requests that queued while one ran were executed together (batch size > 1).
    stats = ImageEncoder(triton.url, "face_embedding")  # its batch_statistics() reads any model
    try:
        assert max(await stats.batch_statistics()) > 1
    finally:
        await stats.close()
