"""OCR text logic in-process: folding, query parsing, fuzzy matching, scores, the n-gram filter."""

from __future__ import annotations

import random
import string

import pytest

from imagesearch.ocr.errors import EmptyTextQuery, InvalidTextQuery, TextQueryTooLong
from imagesearch.ocr.fuzzy import approximate_occurrences
from imagesearch.ocr.grams import candidate_filter, line_grams
from imagesearch.ocr.lines import OcrLine, lines_from_model_output
from imagesearch.ocr.matching import MATCH_THRESHOLD, match_lines
from imagesearch.ocr.normalize import fold, tokens
from imagesearch.ocr.query import MAX_QUERY_CHARS, MatchMode, parse_query
from imagesearch.store.filters import Filter, Match

BOX = ((0.0, 0.0), (10.0, 0.0), (10.0, 5.0), (0.0, 5.0))


def line(text: str, confidence: float = 0.95) -> OcrLine:
    return OcrLine(text, confidence, BOX)


def score(query: str, texts: list[str], mode: MatchMode = MatchMode.ALL_WORDS) -> float | None:
    match = match_lines(parse_query(query, mode), [line(t) for t in texts])
    return None if match is None else match.score


def passes(flt: Filter, grams: set[str]) -> bool:
    """The engine's semantics for the filters grams.py builds (Match on a keyword list)."""
    def holds(condition) -> bool:
        if isinstance(condition, Filter):
            return passes(condition, grams)
        assert isinstance(condition, Match)
        return condition.value in grams
    return all(holds(c) for c in flt.must) and (not flt.should or any(holds(c) for c in flt.should))


def test_folding_drops_case_accents_width_and_merges_look_alikes() -> None:
    assert fold("Crème BRÛLÉE") == fold("creme brulee")
    assert fold("ＡＢＣ１２３") == fold("abc123")  # full-width forms
    assert fold("B0X") == fold("BOX") and fold("1ine") == fold("line") == fold("Iine")
    assert tokens("027-88852022, RE16 TGK!") == ["027", "88852022", "re16", "tgk"]
    assert tokens("我是中国人") == ["我是中国人"]


def test_partial_strings_are_found_inside_tokens_and_lines() -> None:
    assert score("8885", ["027-88852022"]) is not None
    assert score("RE16", ["RE16 TGK"]) is not None
    assert score("16 TG", ["RE16 TGK"], MatchMode.PHRASE) is not None
    assert score("中国", ["我是中国人"]) is not None


def test_all_words_need_every_word_phrase_needs_them_together() -> None:
    texts = ["shot type annotation", "46K shots from 7858 movies"]
    assert score("movies shot", texts) is not None
    assert score("movies zebra", texts) is None
    assert score("shot type", texts, MatchMode.PHRASE) is not None
    assert score("type shot", texts, MatchMode.PHRASE) is None
    assert score("annotation movies", texts, MatchMode.PHRASE) is None  # different lines
    # A recogniser that missed the spaces still matches the phrase.
    assert score("MovieShots Dataset", ["MovieShotsDataset"], MatchMode.PHRASE) is not None


def test_one_edit_is_tolerated_from_five_characters_on() -> None:
    assert score("Dataset", ["Datasct"]) is not None  # substitution
    assert score("Dataset", ["Dataet"]) is not None  # deletion
    assert score("Dataset", ["Dataaset"]) is not None  # insertion
    assert score("Dataset", ["Dxtasct"]) is None  # two edits
    assert score("cat", ["cut"]) is None  # short words are exact
    assert score("B00K", ["BOOK"]) is not None  # O/0 folded, not an edit


def test_scores_rank_whole_words_over_parts_and_exact_over_edited() -> None:
    whole = score("plate", ["plate 42"])
    prefix = score("plat", ["plate 42"])
    inside = score("lat", ["plate 42"])
    edited = score("plane", ["plate 42"])
    assert whole is not None and prefix is not None and inside is not None and edited is not None
    assert 1.0 >= whole > prefix > inside > MATCH_THRESHOLD
    assert whole > edited > MATCH_THRESHOLD
    low = match_lines(parse_query("plate"), [line("plate", 0.5)])
    assert low is not None and low.score < whole


def test_matched_lines_carry_their_boxes() -> None:
    lines = [line("nothing here"), OcrLine("RE16 TGK", 0.9, ((1, 2), (30, 2), (30, 9), (1, 9)))]
    match = match_lines(parse_query("tgk"), lines)
    assert match is not None and [m.index for m in match.lines] == [1]
    assert match.lines[0].line.box == ((1, 2), (30, 2), (30, 9), (1, 9))


@pytest.mark.parametrize("query, error", [("", EmptyTextQuery), ("  ", EmptyTextQuery), ("-- !", EmptyTextQuery),
                                          ("x" * (MAX_QUERY_CHARS + 1), TextQueryTooLong),
                                          (" ".join(["w"] * 17), TextQueryTooLong)])
def test_bad_queries_are_typed_errors(query: str, error: type[InvalidTextQuery]) -> None:
    with pytest.raises(error):
        parse_query(query)


def test_no_lines_match_nothing() -> None:
    assert match_lines(parse_query("anything"), []) is None


def test_approximate_occurrences_report_positions() -> None:
    found = approximate_occurrences("dataset", "thedatasctis", 1)
    assert found and min(o.edits for o in found) == 1
    assert any(o.start == 3 and o.end == 10 for o in found)


def test_model_output_parses_into_lines() -> None:
    data = '{"lines": [{"text": "TEST", "confidence": 0.99, "box": [[1,2],[3,2],[3,4],[1,4]]}]}'.encode()
    assert lines_from_model_output(data) == (OcrLine("TEST", 0.99, ((1, 2), (3, 2), (3, 4), (1, 4))),)
    assert lines_from_model_output(b'{"lines": []}') == ()


def _mutate(rng: random.Random, text: str) -> str:
    position = rng.randrange(len(text))
    choice = rng.randrange(3)
    char = rng.choice(string.ascii_lowercase + string.digits)
    if choice == 0:
        return text[:position] + char + text[position + 1:]
    if choice == 1:
        return text[:position] + text[position + 1:]
    return text[:position] + char + text[position:]


def test_the_gram_filter_lets_every_true_match_through() -> None:
    """Whatever matches in Python must pass the engine's filter (no false negatives)."""
    rng = random.Random(7)
    checked = 0
    for _ in range(1500):
        word = "".join(rng.choices(string.ascii_lowercase + string.digits, k=rng.randint(1, 12)))
        shown = _mutate(rng, word) if len(word) >= 5 and rng.random() < 0.5 else word
        text = "".join(rng.choices(string.ascii_lowercase, k=rng.randint(0, 6))) + shown + " zz9"
        lines = [line(text)]
        query = parse_query(word)
        if match_lines(query, lines) is not None:
            checked += 1
            assert passes(candidate_filter(query), set(line_grams(lines))), (word, text)
    assert checked > 1000


def test_the_gram_filter_rejects_most_non_matches() -> None:
    rng = random.Random(8)
    lines = [line("".join(rng.choices(string.ascii_lowercase, k=40))) for _ in range(3)]
    grams = set(line_grams(lines))
    rejected = sum(
        not passes(candidate_filter(parse_query("".join(rng.choices(string.ascii_lowercase, k=7)))), grams)
        for _ in range(200)
    )
    assert rejected >= 190


def test_codes_match_with_their_words_run_together_and_long_words_with_two_edits() -> None:
    assert score("SKU-64855-KQ", ["SKO64855-KQ"]) is not None  # "sku" alone is short, so exact
    assert score("RZ85 XFL", ["RZ85 XEL"]) is not None
    assert score("RZ85 XFL", ["RZ85 QQQ"]) is None
    assert score("SKU-64855-KQ", ["SKU 64855", "KQ"]) is not None  # every word on its own
    assert score("Xoqkzayfyc", ["Xoqkzaytc"]) is not None  # 10 letters, two edits
    assert score("Xoqkzayfyc", ["Xoqkzt"]) is None  # four
    assert score("Dataset", ["Dxtasct"]) is None  # 7 letters: still one edit
    assert MATCH_THRESHOLD < score("Xoqkzayfyc", ["Xoqkzaytc"]) < score("Xoqkzayfyc", ["Xoqkzayfc"])


def test_the_gram_filter_lets_two_edit_and_joined_matches_through() -> None:
    rng = random.Random(11)
    checked = 0
    for _ in range(600):
        words = ["".join(rng.choices(string.ascii_lowercase + string.digits, k=rng.randint(2, 11)))
                 for _ in range(rng.randint(1, 3))]
        shown = "".join(words)
        for _ in range(2 if len(shown) >= 9 else 1 if len(shown) >= 5 else 0):
            shown = _mutate(rng, shown)
        lines = [line("".join(rng.choices(string.ascii_lowercase, k=rng.randint(0, 4))) + shown)]
        query = parse_query(" ".join(words))
        if match_lines(query, lines) is not None:
            checked += 1
            assert passes(candidate_filter(query), set(line_grams(lines))), (words, shown)
    assert checked > 300
