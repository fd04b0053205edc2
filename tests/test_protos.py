"""The committed generated code matches the .proto files."""

from pathlib import Path

from imagesearch import protogen


def test_generated_code_is_up_to_date(tmp_path: Path) -> None:
    written = protogen.generate(tmp_path)
    assert written, "no .proto files found"
    for fresh in written:
        committed = protogen.DEFAULT_OUT / fresh.relative_to(tmp_path)
        assert committed.exists(), f"{committed} is missing: run `python -m imagesearch.protogen`"
        assert committed.read_text() == fresh.read_text(), (
            f"{committed} is stale: run `python -m imagesearch.protogen` and commit the result"
        )
