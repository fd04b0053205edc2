"""Export an OpenCLIP checkpoint's towers as the clip_image and clip_text Triton models.

Checkpoint forms (shown in `imagesearch models export-clip --help`):

    open_clip:ARCH/PRETRAINED    built-in architecture and pretrained tag, downloaded by
                                 open_clip (e.g. open_clip:ViT-B-32/laion2b_s34b_b79k)
    open_clip:hf-hub:ORG/REPO    an OpenCLIP model on the Hugging Face hub
    FOLDER                       a local folder holding open_clip_config.json and its
                                 weights (what the hub stores; open_clip's local-dir:)
    FILE --open-clip-arch ARCH   a local state dict (.pt/.pth/.bin/.safetensors) of a
                                 built-in architecture, or of the one a model config
                                 JSON file (embed_dim, vision_cfg, text_cfg) describes

The image tower takes pixels preprocessed as the model's preprocess config says (size,
mean, std, resize mode, interpolation), written into clip_image's config. The text
graph takes input_ids alone: it pads them to the model's context length itself, with
the pad id open_clip pads with, because OpenCLIP's text towers add positions for the
full context and pool at the end-of-text token (or by the pad mask), never by an
attention mask. clip_text pads each batch only to its longest text, so the graph's
padding makes the ids exactly those open_clip.tokenize gives.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from imagesearch.models.clip_onnx import (
    INPUT_IDS,
    PIXELS,
    ClipExport,
    ExportError,
    ImagePreprocess,
    TextTokens,
    export_checked,
    pixel_batches,
    served_text_tokens,
    version_dirs,
    write_configs,
)

PREFIX = "open_clip:"
CONFIG_FILE = "open_clip_config.json"
# Exported configs' preprocessing must be one clip_image implements (preprocessing.py).
RESIZE_MODES = ("shortest", "squash")
INTERPOLATIONS = ("bicubic", "bilinear")
# Checked at every export: the converted tokenizer, run as clip_text runs it, must give
# open_clip's ids for each (cleaning, unicode, contractions, truncation, empty text).
PARITY_TEXTS = [
    "a photo of a dog", "", "  A BEACH\tat\nSunset!!  ", "it's what they're, we've, I'M",
    "caf\u00e9 \u201ccurly\u201d \ufb01ne &amp; fish", "\u65e5\u672c\u8a9e \U0001f436 \uff26\uff35\uff2c\uff2c",
    "\u039f\u0394\u039f\u03a3 Stra\u00dfe", "word " * 100,
]


def is_open_clip(checkpoint: str, arch: str | None) -> bool:
    """Whether `checkpoint` names an OpenCLIP checkpoint (the forms in the module docstring)."""
    return arch is not None or checkpoint.startswith(PREFIX) or (Path(checkpoint) / CONFIG_FILE).is_file()


def export_open_clip(checkpoint: str, repo: Path, name: str | None, arch: str | None) -> ClipExport:
    """Load `checkpoint` with open_clip and export both towers into the model repository `repo`.

    Raises ExportError when ONNX or the tokenizer differs from open_clip, or when the
    model's tokenizer or preprocessing has no equivalent in the clip_* Triton models.
    """
    import torch

    from imagesearch.models.open_clip_tokenizer import TokenizerNotSupported, convert_tokenizer

    model, tokenizer, source = _load(checkpoint, arch)
    try:
        converted = convert_tokenizer(tokenizer)
    except TokenizerNotSupported as exc:
        raise ExportError(f"{source}: {exc}") from exc
    context_length = int(model.context_length)
    if converted.context_length != context_length:
        raise ExportError(
            f"{source}: tokenizer context length {converted.context_length} != text tower's {context_length}"
        )
    image = _image_preprocess(model, source)
    text = TextTokens(max_tokens=context_length, pad_id=converted.pad_id, clean=converted.clean)

    image_dir, text_dir = version_dirs(repo)
    converted.tokenizer.save(str(text_dir / "tokenizer.json"))
    token_batches = _check_tokenizer(repo, text_dir / "tokenizer.json", text, tokenizer, source)

    image_tower, text_tower = _tower_classes()
    dimension = int(model.encode_image(torch.zeros(1, 3, image.size, image.size)).shape[1])
    pixels = pixel_batches(image.size)
    # nn.MultiheadAttention's inference fast path is a fused op ONNX has no export for.
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore", (DeprecationWarning, UserWarning))
            image_diff = export_checked(
                image_tower(model).eval(), (torch.from_numpy(pixels[0]),), [PIXELS], image_dir / "model.onnx",
                [{PIXELS: b} for b in pixels], dimension,
            )
            text_diff = export_checked(
                text_tower(model, context_length, text.pad_id).eval(), (torch.from_numpy(token_batches[1]),),
                [INPUT_IDS], text_dir / "model.onnx", [{INPUT_IDS: ids} for ids in token_batches], dimension,
            )
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)

    version = write_configs(repo, name or source, dimension, image, text)
    return ClipExport(
        image_dir / "model.onnx", text_dir / "model.onnx", dimension, image.size, version, image_diff, text_diff
    )


def _load(checkpoint: str, arch: str | None):
    """(model in eval mode, its open_clip tokenizer, the name recorded for this source)."""
    import open_clip

    if arch is not None:
        weights = Path(checkpoint)
        if not weights.is_file():
            raise ExportError(f"{checkpoint}: with --open-clip-arch the checkpoint must be a local weights file")
        if arch.endswith(".json"):
            # open_clip finds architectures by name in its config registry: add this one.
            open_clip.add_model_config(arch)
            arch = Path(arch).stem
        model = open_clip.create_model(arch, pretrained=str(weights), device="cpu")
        return model.eval(), open_clip.get_tokenizer(arch), f"open_clip:{arch}/{weights.name}"
    if checkpoint.startswith(PREFIX):
        spec = checkpoint[len(PREFIX):]
        if spec.startswith(("hf-hub:", "local-dir:")):
            model = open_clip.create_model(spec, device="cpu")
            return model.eval(), open_clip.get_tokenizer(spec), checkpoint
        arch, _, tag = spec.rpartition("/")
        if not arch or not tag:
            raise ExportError(
                f"{checkpoint}: expected open_clip:ARCH/PRETRAINED (e.g. open_clip:ViT-B-32/laion2b_s34b_b79k; "
                "open_clip.list_pretrained() lists them) or open_clip:hf-hub:ORG/REPO"
            )
        model = open_clip.create_model(arch, pretrained=tag, device="cpu", require_pretrained=True)
        return model.eval(), open_clip.get_tokenizer(arch), checkpoint
    folder = Path(checkpoint).resolve()
    model = open_clip.create_model(f"local-dir:{folder}", device="cpu", require_pretrained=True)
    return model.eval(), open_clip.get_tokenizer(f"local-dir:{folder}"), f"open_clip:{folder.name}"


def _image_preprocess(model, source: str) -> ImagePreprocess:
    """The model's preprocess config, refused unless clip_image implements it."""
    import open_clip

    cfg = open_clip.get_model_preprocess_cfg(model)
    size = cfg["size"]
    if not isinstance(size, int):
        if len(set(size)) != 1:
            raise ExportError(f"{source}: non-square image size {tuple(size)} is not supported")
        size = size[0]
    if cfg["resize_mode"] not in RESIZE_MODES or cfg["interpolation"] not in INTERPOLATIONS:
        raise ExportError(
            f"{source}: preprocessing resize_mode={cfg['resize_mode']!r}, interpolation={cfg['interpolation']!r} "
            f"is not one clip_image implements (resize modes {RESIZE_MODES}, interpolations {INTERPOLATIONS})"
        )
    return ImagePreprocess(int(size), tuple(cfg["mean"]), tuple(cfg["std"]), cfg["resize_mode"], cfg["interpolation"])


def _check_tokenizer(repo: Path, tokenizer_json: Path, text: TextTokens, tokenizer, source: str) -> list:
    """Tokenise PARITY_TEXTS as clip_text will and compare with open_clip; returns id batches.

    The batches (one text, then all of them) feed the ONNX check.
    """
    import numpy as np

    tokens = served_text_tokens(repo)
    served = tokens.load_tokenizer(str(tokenizer_json), text.max_tokens, text.pad_id)
    clean = tokens.text_cleaner(text.clean)
    ids = tokens.encode(served, [clean(t) for t in PARITY_TEXTS])[INPUT_IDS]
    padded = np.full((len(PARITY_TEXTS), text.max_tokens), text.pad_id, dtype=np.int64)
    padded[:, :ids.shape[1]] = ids
    expected = tokenizer(PARITY_TEXTS).numpy()
    for text_, got, want in zip(PARITY_TEXTS, padded, expected):
        if not np.array_equal(got, want):
            raise ExportError(f"{source}: converted tokenizer differs from open_clip's on {text_!r}: {got} != {want}")
    return [tokens.encode(served, [clean(PARITY_TEXTS[0])])[INPUT_IDS], ids]


def _tower_classes():
    """The two wrapper modules (defined lazily: torch is an export-time dependency)."""
    import torch

    class ImageTower(torch.nn.Module):
        """Pixels -> unit image embedding."""

        def __init__(self, clip) -> None:
            super().__init__()
            self.clip = clip

        def forward(self, pixels):
            return self.clip.encode_image(pixels, normalize=True)

    class TextTower(torch.nn.Module):
        """Token ids padded to any length -> unit text embedding of the ids padded to the context."""

        def __init__(self, clip, context_length: int, pad_id: int) -> None:
            super().__init__()
            self.clip, self.context_length, self.pad_id = clip, context_length, pad_id

        def forward(self, input_ids):
            # Pad by the whole context, then cut: a constant pad and slice, which trace
            # to ONNX for any input length up to the context.
            padded = torch.nn.functional.pad(input_ids, (0, self.context_length), value=self.pad_id)
            return self.clip.encode_text(padded[:, : self.context_length], normalize=True)

    return ImageTower, TextTower
