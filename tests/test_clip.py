"""The CLIP model set end to end, on a tiny randomly initialised CLIP built here.

No CLIP weights ship in any package these machines can install, so this proves the
path (export, ONNX vs PyTorch, Triton serving, text and image search through the API,
model-set refusals) rather than search quality.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import grpc
import numpy as np
import pytest

from conftest import REPO_ROOT, ServerProcess, corel_path
from imagesearch_client import InsertItem
from imagesearch_client.errors import error_reason

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

WORDS = "a photo of the dog cat beach bus red sunset sea sand shoes elephant food flowers horse at in on".split()
SPECIALS = ["<pad>", "<unk>", "<bos>", "<eos>"]
IMAGES = [c * 100 + j for c in range(10) for j in range(2)]  # 20 photos, 2 per class
sys.path.insert(0, str(REPO_ROOT / "model_repository" / "image_embedding" / "1"))
from preprocessing import decode_rgb, to_clip_pixels  # noqa: E402


def save_word_tokenizer(folder: Path) -> int:
    """A word-level Hugging Face fast tokenizer over WORDS, saved in `folder`; its vocabulary size."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {token: i for i, token in enumerate(SPECIALS + WORDS)}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<bos> $A <eos>", special_tokens=[("<bos>", 2), ("<eos>", 3)]
    )
    PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, bos_token="<bos>", eos_token="<eos>", pad_token="<pad>", unk_token="<unk>"
    ).save_pretrained(folder)
    return len(vocab)


def build_tiny_clip(folder: Path) -> None:
    """A random 16-d CLIP with a word-level tokenizer, saved like a downloaded checkpoint."""
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    vocab_size = save_word_tokenizer(folder)
    torch.manual_seed(0)
    config = CLIPConfig(
        text_config=dict(
            vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
            num_attention_heads=2, max_position_embeddings=32, pad_token_id=0, bos_token_id=2, eos_token_id=3,
        ),
        vision_config=dict(
            image_size=32, patch_size=8, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
            num_attention_heads=2,
        ),
        projection_dim=16,
    )
    CLIPModel(config).eval().save_pretrained(folder)
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(folder)


def export_into_new_repo(repo: Path, export_args: list[str]) -> str:
    """A model repository at `repo` (the offline models linked, the committed clip_* files
    copied) into which `imagesearch models export-clip EXPORT_ARGS` has exported; its stdout."""
    repo.mkdir()
    for offline in ("image_embedding", "text_embedding", "nsfw"):
        (repo / offline).symlink_to(REPO_ROOT / "model_repository" / offline)
    for clip in ("clip_image", "clip_text"):
        shutil.copytree(REPO_ROOT / "model_repository" / clip, repo / clip, symlinks=True)
    out = subprocess.run(
        [sys.executable, "-m", "imagesearch.cli", "models", "export-clip", *export_args, "--model-repository", str(repo)],
        capture_output=True, text=True, timeout=600, cwd=REPO_ROOT,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


@pytest.fixture(scope="module")
def clip_repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(checkpoint folder, model repository with the offline models and the exported CLIP)."""
    root = tmp_path_factory.mktemp("clip")
    checkpoint, repo = root / "tiny-clip", root / "model_repository"
    build_tiny_clip(checkpoint)
    assert "CLIP model set ready: 16-d, 32px" in export_into_new_repo(repo, [str(checkpoint)])
    return checkpoint, repo


def torch_features(checkpoint: Path, texts: list[str], images: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Unit text and image embeddings straight from PyTorch, preprocessed as the server does."""
    from transformers import AutoTokenizer, CLIPModel

    model = CLIPModel.from_pretrained(checkpoint).eval()
    tokens = AutoTokenizer.from_pretrained(checkpoint)(texts, padding=True, return_tensors="pt")
    pixels = np.stack([
        to_clip_pixels(decode_rgb(corel_path(i).read_bytes(), 10**8), 32, (0.48145466, 0.4578275, 0.40821073),
                              (0.26862954, 0.26130258, 0.27577711))
        for i in images
    ])
    with torch.no_grad():
        text = model.get_text_features(input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"])
        image = model.get_image_features(pixel_values=torch.from_numpy(pixels))
    text, image = (t if hasattr(t, "shape") else t.pooler_output for t in (text, image))
    return (torch.nn.functional.normalize(text, dim=1).numpy(), torch.nn.functional.normalize(image, dim=1).numpy())


def check_clip_search(client, collection: str, text: str, expected_text: np.ndarray, expected_images: np.ndarray) -> None:
    """Create a clip collection of IMAGES, then search it by image and by `text`.

    Served vectors must be PyTorch's (`expected_*`, unit rows): every hit's score is the
    cosine PyTorch gives. (A random tiny CLIP maps all photos close together, so ranks
    alone prove little.)
    """
    info = client.create_collection(collection, "clip")
    assert info.model_set == "clip" and info.dimension == expected_images.shape[1]
    assert list(info.spaces) == ["clip"] and info.spaces["clip"][3] is True
    items = [InsertItem(image=corel_path(i).read_bytes(), id=f"corel-{i}") for i in IMAGES]
    assert all(o.ok for o in client.import_items(collection, items, timeout=300))
    by_id = {f"corel-{i}": row for i, row in zip(IMAGES, expected_images)}
    query = by_id["corel-301"]
    hits = client.search(collection, corel_path(301).read_bytes(), top_k=20)
    assert len(hits) == 20 and hits[0].id == "corel-301" and hits[0].score >= 0.999
    assert all(abs(h.score - max(float(by_id[h.id] @ query), 0.0)) <= 1e-3 for h in hits)
    hits = client.search_text(collection, text, top_k=20)
    assert len(hits) == 20 and all(a.score >= b.score for a, b in zip(hits, hits[1:]))
    assert all(abs(h.score - max(float(by_id[h.id] @ expected_text[0]), 0.0)) <= 1e-3 for h in hits)


def test_onnx_matches_pytorch(clip_repo: tuple[Path, Path]) -> None:
    import onnxruntime as ort

    checkpoint, repo = clip_repo
    texts = ["a photo of the dog", "red shoes on the beach at sunset"]
    expected_text, expected_image = torch_features(checkpoint, texts, [0, 305, 999])
    from transformers import AutoTokenizer

    tokens = AutoTokenizer.from_pretrained(checkpoint)(texts, padding=True, return_tensors="np")
    text_session = ort.InferenceSession(str(repo / "clip_text" / "1" / "model.onnx"))
    (text,) = text_session.run(None, {"input_ids": tokens["input_ids"].astype(np.int64),
                                      "attention_mask": tokens["attention_mask"].astype(np.int64)})
    pixels = np.stack([
        to_clip_pixels(decode_rgb(corel_path(i).read_bytes(), 10**8), 32, (0.48145466, 0.4578275, 0.40821073),
                              (0.26862954, 0.26130258, 0.27577711))
        for i in [0, 305, 999]
    ])
    (image,) = ort.InferenceSession(str(repo / "clip_image" / "1" / "model.onnx")).run(None, {"pixels": pixels})
    assert np.max(np.abs(text - expected_text)) <= 1e-4
    assert np.max(np.abs(image - expected_image)) <= 1e-4


def test_clip_search_end_to_end(clip_repo: tuple[Path, Path], tmp_path: Path) -> None:
    checkpoint, repo = clip_repo
    server = ServerProcess(tmp_path / "clip-server", extra_args=["--model-repository", str(repo)]).start()
    try:
        with server.client() as client:
            text = "a photo of the dog"
            check_clip_search(client, "clip-photos", text, *torch_features(checkpoint, [text], IMAGES))

            # Collections of one set refuse queries that need the other.
            client.create_collection("offline-photos")
            client.create_item("offline-photos", InsertItem(image=corel_path(1).read_bytes(), id="one"))
            for collection, other in (("clip-photos", "offline"), ("offline-photos", "clip")):
                for call, query in ((client.search_text, "a dog"), (client.search, corel_path(2).read_bytes())):
                    with pytest.raises(grpc.RpcError) as err:
                        call(collection, query, model_set=other)
                    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
                    assert error_reason(err.value) == "MODEL_SET_MISMATCH"
            assert client.search_text("offline-photos", "a beach")[0].id == "one"
    finally:
        server.stop()
