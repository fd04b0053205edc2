"""Text to model inputs, exactly as the text models (text_embedding, clip_text) run it.

Pure `tokenizers` + NumPy (+ ftfy for OpenCLIP's cleaning), no Triton imports, so the
CLIP exporter and the tests check tokenisation with this very code. The Python backend
puts this version directory on sys.path, which is how model.py imports it.
"""

from __future__ import annotations

import html
import string
from typing import Callable

import numpy as np
from tokenizers import Tokenizer

# OpenCLIP cleans text in Python before tokenising (`clean=` of its tokenizers); the
# last three are its modes. "none" leaves the text to the tokenizer's normalizer. (Not
# "": Triton drops empty string parameters from the config it hands the model.)
CLEAN_MODES = ("none", "lower", "whitespace", "canonicalize")


def load_tokenizer(path: str, max_tokens: int, pad_id: int) -> Tokenizer:
    """tokenizer.json, truncating to `max_tokens` and padding each batch to its longest text."""
    tokenizer = Tokenizer.from_file(path)
    tokenizer.enable_truncation(max_tokens)
    tokenizer.enable_padding(pad_id=pad_id)
    return tokenizer


def text_cleaner(mode: str) -> Callable[[str], str]:
    """The cleaning OpenCLIP applies before its tokenizer, by its mode name (see CLEAN_MODES).

    The same steps as open_clip.tokenizer (ftfy, HTML unescaping twice, whitespace
    collapsing, lower case or punctuation removal): a tokenizer.json cannot express
    ftfy's repairs or HTML entities, and Python's str.lower() differs from the
    tokenizers library's lower-casing (Greek final sigma).
    """
    if mode not in CLEAN_MODES:
        raise ValueError(f"unknown text_clean mode {mode!r}; expected one of {CLEAN_MODES}")
    if mode == "none":
        return lambda text: text
    import ftfy  # only OpenCLIP's models need it

    def basic(text: str) -> str:
        return html.unescape(html.unescape(ftfy.fix_text(text))).strip()

    if mode == "lower":
        return lambda text: " ".join(basic(text).split()).lower()
    if mode == "whitespace":
        return lambda text: " ".join(basic(text).split())
    no_punctuation = str.maketrans("", "", string.punctuation)
    return lambda text: " ".join(basic(text).replace("_", " ").translate(no_punctuation).lower().split())


def encode(tokenizer: Tokenizer, texts: list[str]) -> dict[str, np.ndarray]:
    """input_ids, attention_mask and token_type_ids [N, longest] (int64) of cleaned texts."""
    encodings = tokenizer.encode_batch(texts)
    return {
        "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
        "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
        "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
    }
