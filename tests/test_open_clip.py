"""OpenCLIP checkpoints through `imagesearch models export-clip`, on a tiny random OpenCLIP.

The test builds the model from an architecture config JSON and saves its state dict,
as a fine-tuned OpenCLIP checkpoint would come; the export runs through the CLI. It
checks the converted tokenizer id for id against open_clip.tokenize, ONNX against
PyTorch, and text and image search served by the real Triton through the API.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO_ROOT, ServerProcess, corel_path
from test_clip import IMAGES, check_clip_search, export_into_new_repo, save_word_tokenizer

torch = pytest.importorskip("torch")
open_clip = pytest.importorskip("open_clip")

sys.path.insert(0, str(REPO_ROOT / "model_repository" / "text_embedding" / "1"))
sys.path.insert(0, str(REPO_ROOT / "model_repository" / "image_embedding" / "1"))
from preprocessing import decode_rgb, to_clip_pixels  # noqa: E402
from text_tokens import encode, load_tokenizer, text_cleaner  # noqa: E402

# A ViT and a text transformer of OpenAI CLIP's shape (BPE vocabulary, 77 tokens), tiny.
TINY_CONFIG = {
    "embed_dim": 16,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 32, "patch_size": 8, "head_width": 16},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 2},
}
# What open_clip's cleaning and BPE must agree on with the converted tokenizer.
TEXTS = [
    "a photo of a dog", "", "   ", "A Photo Of A DOG", "Hello, World!!! ... ?!?", "(brackets) [and] {braces} #tag @you",
    "it's they're we've I'm you'll he'd IT'S", "  lots   of\twhite\nspace\r\n ", "caf\u00e9 na\u00efve r\u00e9sum\u00e9",
    "cafe\u0301 (combining accent)", "\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8", "emoji \U0001f436\U0001f431 \U0001f44d\U0001f3fd",
    "\u201ccurly quotes\u201d \u2018single\u2019", "\ufb01ne \ufb02ower ligatures", "\uff26\uff35\uff2c\uff2c\uff37\uff29\uff24\uff34\uff28",
    "&amp; html &lt;b&gt; &quot;entities&quot; &amp;amp;", "mojibake caf\u00c3\u00a9", "\u039f\u0394\u039f\u03a3 Stra\u00dfe \u0130stanbul",
    "zero\u200bwidth no\u00a0break", "num 12345 3.14 1,000,000", "<start_of_text> and <end_of_text> written out",
    "snake_case under_score", "word " * 100, "x" * 300, "\u0645\u0631\u062d\u0628\u0627 \u05e9\u05dc\u05d5\u05dd \u0928\u092e\u0938\u094d\u0924\u0947",
]


def build_tiny_open_clip(folder: Path) -> tuple[Path, Path]:
    """(architecture config JSON, safetensors state dict) of a random 16-d OpenCLIP."""
    from safetensors.torch import save_file

    folder.mkdir()
    config, weights = folder / "tiny-open-clip.json", folder / "tiny-open-clip.safetensors"
    config.write_text(json.dumps(TINY_CONFIG))
    torch.manual_seed(0)
    save_file({k: v.contiguous() for k, v in open_clip.model.CLIP(**TINY_CONFIG).state_dict().items()}, weights)
    return config, weights


def load_tiny_open_clip(weights: Path):
    """The checkpoint as open_clip itself runs it."""
    from safetensors.torch import load_file

    model = open_clip.model.CLIP(**TINY_CONFIG)
    model.load_state_dict(load_file(weights))
    return model.eval()


def parameters(config_pbtxt: Path) -> dict[str, str]:
    return dict(re.findall(r'key: "(\w+)" value: \{ string_value: "([^"]*)" \}', config_pbtxt.read_text()))


@pytest.fixture(scope="module")
def open_clip_repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(weights file, model repository with the offline models and the exported OpenCLIP)."""
    root = tmp_path_factory.mktemp("open-clip")
    config, weights = build_tiny_open_clip(root / "checkpoint")
    repo = root / "model_repository"
    stdout = export_into_new_repo(repo, [str(weights), "--open-clip-arch", str(config)])
    assert "CLIP model set ready: 16-d, 32px" in stdout
    return weights, repo


def served_ids(repo: Path, texts: list[str]) -> np.ndarray:
    """Token ids as clip_text makes them (its config, tokenizer.json and text_tokens.py)."""
    params = parameters(repo / "clip_text" / "config.pbtxt")
    tokenizer = load_tokenizer(str(repo / "clip_text" / "1" / "tokenizer.json"), int(params["max_tokens"]), int(params["pad_id"]))
    clean = text_cleaner(params["text_clean"])
    return encode(tokenizer, [clean(t) for t in texts])["input_ids"]


def corel_pixels(images: list[int], **preprocess) -> np.ndarray:
    """Corel photos preprocessed as clip_image does for the tiny model."""
    return np.stack([
        to_clip_pixels(decode_rgb(corel_path(i).read_bytes(), 10**8), 32, open_clip.OPENAI_DATASET_MEAN,
                       open_clip.OPENAI_DATASET_STD, **preprocess)
        for i in images
    ])


def test_tokenizer_matches_open_clip(open_clip_repo: tuple[Path, Path]) -> None:
    _, repo = open_clip_repo
    params = parameters(repo / "clip_text" / "config.pbtxt")
    assert (params["max_tokens"], params["pad_id"], params["text_clean"]) == ("77", "0", "lower")
    expected = open_clip.tokenize(TEXTS).numpy()
    # One batch, padded to its longest (77 here); each text alone too, as batches vary.
    ids = served_ids(repo, TEXTS)
    assert ids.shape == expected.shape
    for text, got, want in zip(TEXTS, ids, expected):
        assert got.tolist() == want.tolist(), text
        alone = served_ids(repo, [text])[0]
        assert alone.tolist() == want[: len(alone)].tolist() and not want[len(alone):].any(), text
    assert expected[TEXTS.index("word " * 100), -1] == 49407  # truncated, ending in end-of-text


def test_onnx_matches_open_clip(open_clip_repo: tuple[Path, Path]) -> None:
    import onnxruntime as ort

    weights, repo = open_clip_repo
    model = load_tiny_open_clip(weights)
    texts = ["a photo of the dog", "red shoes on the beach at sunset", "", "word " * 100]
    images = [0, 305, 999]
    with torch.no_grad():
        expected_text = model.encode_text(open_clip.tokenize(texts), normalize=True).numpy()
        expected_image = model.encode_image(torch.from_numpy(corel_pixels(images)), normalize=True).numpy()
    text_session = ort.InferenceSession(str(repo / "clip_text" / "1" / "model.onnx"))
    assert [i.name for i in text_session.get_inputs()] == ["input_ids"]
    for batch in (texts, texts[:1]):  # padded to 77, and to a short batch's longest text
        (text,) = text_session.run(None, {"input_ids": served_ids(repo, batch)})
        assert np.max(np.abs(text - expected_text[: len(batch)])) <= 1e-4
    image_session = ort.InferenceSession(str(repo / "clip_image" / "1" / "model.onnx"))
    (image,) = image_session.run(None, {"pixels": corel_pixels(images)})
    assert np.max(np.abs(image - expected_image)) <= 1e-4


def test_open_clip_folder_and_preprocess_config(tmp_path: Path) -> None:
    """An OpenCLIP folder (open_clip_config.json, as on the hub) with its own preprocessing."""
    config, weights = build_tiny_open_clip(tmp_path / "weights")
    folder = tmp_path / "my-open-clip"
    folder.mkdir()
    preprocess = {"mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25], "resize_mode": "squash", "interpolation": "bilinear"}
    (folder / "open_clip_config.json").write_text(json.dumps({"model_cfg": TINY_CONFIG, "preprocess_cfg": preprocess}))
    weights.rename(folder / "open_clip_model.safetensors")
    export_into_new_repo(tmp_path / "repo", [str(folder)])
    params = parameters(tmp_path / "repo" / "clip_image" / "config.pbtxt")
    assert params["embedding_model_name"] == "open_clip:my-open-clip"
    assert (params["pixel_mean"], params["pixel_std"]) == ("0.5 0.5 0.5", "0.25 0.25 0.25")
    assert (params["image_size"], params["resize_mode"], params["interpolation"]) == ("32", "squash", "bilinear")
    # The server's squash preprocessing is open_clip's own, pixel for pixel within rounding.
    _, _, transform = open_clip.create_model_and_transforms(f"local-dir:{folder}")
    from PIL import Image

    for i in (0, 305):
        ours = to_clip_pixels(decode_rgb(corel_path(i).read_bytes(), 10**8), 32, (0.5,) * 3, (0.25,) * 3,
                              "squash", "bilinear")
        theirs = transform(Image.open(corel_path(i)).convert("RGB")).numpy()
        assert np.max(np.abs(ours - theirs)) <= 1e-5


def test_text_cleaning_matches_open_clip() -> None:
    from open_clip.tokenizer import get_clean_fn

    for mode in ("lower", "whitespace", "canonicalize"):
        ours, theirs = text_cleaner(mode), get_clean_fn(mode)
        assert [ours(t) for t in TEXTS] == [theirs(t) for t in TEXTS], mode


def test_open_clip_with_hugging_face_tokenizer(tmp_path: Path) -> None:
    """An OpenCLIP folder whose text config names a Hugging Face tokenizer (HFTokenizer)."""
    import onnxruntime as ort

    folder = tmp_path / "hf-tokenizer-clip"
    folder.mkdir()
    vocab_size = save_word_tokenizer(folder)
    config = {**TINY_CONFIG, "text_cfg": {**TINY_CONFIG["text_cfg"], "context_length": 16, "vocab_size": vocab_size,
                                           "hf_tokenizer_name": "the folder itself"}}
    (folder / "open_clip_config.json").write_text(json.dumps({"model_cfg": config}))
    model = open_clip.create_model(f"local-dir:{folder}")  # random weights, saved as the checkpoint
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, folder / "open_clip_model.safetensors")
    repo = tmp_path / "repo"
    export_into_new_repo(repo, [str(folder)])
    params = parameters(repo / "clip_text" / "config.pbtxt")
    assert (params["max_tokens"], params["pad_id"], params["text_clean"]) == ("16", "0", "whitespace")

    tokenizer = open_clip.get_tokenizer(f"local-dir:{folder}")
    texts = ["a photo of the dog", "", "  red   SHOES  ", "the cat " * 20, "an unknown word"]
    expected = tokenizer(texts).numpy()
    ids = served_ids(repo, texts)
    assert ids.tolist() == expected[:, : ids.shape[1]].tolist() and not expected[:, ids.shape[1]:].any()
    with torch.no_grad():
        expected_text = model.eval().encode_text(tokenizer(texts), normalize=True).numpy()
    (text,) = ort.InferenceSession(str(repo / "clip_text" / "1" / "model.onnx")).run(None, {"input_ids": ids})
    assert np.max(np.abs(text - expected_text)) <= 1e-4


def test_open_clip_search_end_to_end(open_clip_repo: tuple[Path, Path], tmp_path: Path) -> None:
    weights, repo = open_clip_repo
    model = load_tiny_open_clip(weights)
    text = "a photo of the dog"
    with torch.no_grad():
        expected_text = model.encode_text(open_clip.tokenize([text]), normalize=True).numpy()
        expected_images = model.encode_image(torch.from_numpy(corel_pixels(IMAGES)), normalize=True).numpy()
    server = ServerProcess(tmp_path / "open-clip-server", extra_args=["--model-repository", str(repo)]).start()
    try:
        with server.client() as client:
            check_clip_search(client, "open-clip-photos", text, expected_text, expected_images)
            assert client.get_collection("open-clip-photos").spaces["clip"][0] == "open_clip:tiny-open-clip/tiny-open-clip.safetensors"
    finally:
        server.stop()
