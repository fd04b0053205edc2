"""OpenCLIP's tokenizers as a tokenizer.json plus the settings the clip_text model needs.

open_clip tokenises in Python: it cleans the text (ftfy, HTML entities, whitespace,
lower case), splits it with a regex, applies byte-level BPE, and pads every text with 0
to the context length. clip_text runs the `tokenizers` library instead, with the
cleaning done by text_tokens.text_cleaner and the padding to the context length done
inside the exported text graph. The exporter checks the result id for id against
open_clip (open_clip_export.py), and so do the tests, on a wider set of texts.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass

# open_clip's SimpleTokenizer pattern. Its contractions match case-insensitively (it
# compiles with IGNORECASE); the other classes are case-blind anyway.
SPLIT_PATTERN = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"""
CLEAN_MODES = ("lower", "whitespace", "canonicalize")


class TokenizerNotSupported(ValueError):
    """An open_clip tokenizer that clip_text cannot reproduce; the message says what to do."""


@dataclass(frozen=True)
class ConvertedTokenizer:
    """The tokenizer to save as tokenizer.json and how clip_text must use it."""

    tokenizer: object  # tokenizers.Tokenizer
    pad_id: int
    clean: str  # text_tokens.CLEAN_MODES
    context_length: int


def convert_tokenizer(open_clip_tokenizer) -> ConvertedTokenizer:
    """Convert the tokenizer open_clip.get_tokenizer returned for a model.

    SimpleTokenizer (OpenAI CLIP's BPE, most OpenCLIP models) is rebuilt from its own
    vocabulary and merges; HFTokenizer's standard mode keeps its Hugging Face fast
    tokenizer. Anything else raises TokenizerNotSupported.
    """
    from open_clip.tokenizer import HFTokenizer, SimpleTokenizer

    kind = type(open_clip_tokenizer)
    if kind is SimpleTokenizer:
        return _simple(open_clip_tokenizer)
    if kind is HFTokenizer:
        return _hugging_face(open_clip_tokenizer)
    raise TokenizerNotSupported(
        f"open_clip's {kind.__name__} has no tokenizer.json equivalent here; export a model whose "
        "tokenizer is open_clip's SimpleTokenizer or a plain HFTokenizer, or convert the checkpoint "
        "to a Hugging Face CLIP checkpoint and export that"
    )


def _clean_mode(clean_fn) -> str:
    """The name of the cleaning function an open_clip tokenizer holds."""
    from open_clip.tokenizer import get_clean_fn

    for mode in CLEAN_MODES:
        if clean_fn is get_clean_fn(mode):
            return mode
    raise TokenizerNotSupported(f"unknown open_clip text cleaning {clean_fn!r}")


def _simple(simple) -> ConvertedTokenizer:
    """SimpleTokenizer: the same vocabulary, merges, split pattern and special tokens."""
    from open_clip.tokenizer import default_bpe
    from tokenizers import AddedToken, Regex, Tokenizer, models, pre_tokenizers, processors

    if simple.reduction_fn is not None:
        raise TokenizerNotSupported("open_clip tokenizers with a reduction mask (training only) are not supported")
    # SimpleTokenizer keeps only its ranks; this slice of its merges file is the one it uses.
    lines = gzip.open(default_bpe()).read().decode("utf-8").split("\n")[1:49152 - 256 - 2 + 1]
    merges = [tuple(line.split()) for line in lines]
    if dict(zip(merges, range(len(merges)))) != simple.bpe_ranks:
        raise TokenizerNotSupported("this SimpleTokenizer uses a custom BPE file; only open_clip's default is supported")
    tokenizer = Tokenizer(models.BPE(vocab=dict(simple.encoder), merges=merges, end_of_word_suffix="</w>"))
    # No normalizer: text_tokens.text_cleaner does open_clip's cleaning in Python.
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(SPLIT_PATTERN), behavior="removed", invert=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    specials = [simple.decoder[i] for i in simple.all_special_ids]
    # Special tokens written in the text itself become their ids, as in open_clip.
    tokenizer.add_special_tokens([AddedToken(t, normalized=False, special=True) for t in specials])
    start, end = specials[0], specials[1]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{start} $A {end}", special_tokens=[(start, simple.sot_token_id), (end, simple.eot_token_id)]
    )
    # open_clip pads with 0 whatever token 0 is.
    return ConvertedTokenizer(tokenizer, 0, _clean_mode(simple.clean_fn), int(simple.context_length))


def _hugging_face(wrapper) -> ConvertedTokenizer:
    """HFTokenizer in its standard mode: the fast tokenizer's own tokenizer.json."""
    from tokenizers import Tokenizer

    hf = wrapper.tokenizer
    if wrapper.tokenizer_mode or wrapper.strip_sep_token:
        raise TokenizerNotSupported(
            f"open_clip's HFTokenizer in mode {wrapper.tokenizer_mode or 'strip_sep_token'!r} rewrites the "
            "tokenizer's output in Python; only its standard mode is supported"
        )
    if not getattr(hf, "is_fast", False) or hf.padding_side != "right" or hf.pad_token_id is None:
        raise TokenizerNotSupported(
            f"{type(hf).__name__} is not a right-padding fast tokenizer with a pad token; "
            "clip_text needs a tokenizer.json (transformers' *TokenizerFast)"
        )
    # A copy: clip_text sets its own truncation and padding.
    tokenizer = Tokenizer.from_str(hf.backend_tokenizer.to_str())
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return ConvertedTokenizer(tokenizer, int(hf.pad_token_id), _clean_mode(wrapper.clean_fn), int(wrapper.context_length))
