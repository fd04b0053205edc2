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


def test_buf_lint_passes_with_only_the_documented_exceptions(tmp_path: Path) -> None:
    """`buf lint` (npm @bufbuild/buf, installed by `make node-deps`) over a descriptor image
    of the API built by protoc (buf cannot fetch googleapis here, so the image carries the
    google/api files; only imagesearch/ is linted). protos/buf.yaml lists the exceptions."""
    import subprocess
    import sys

    buf = protogen.PROTO_ROOT / "node_modules" / ".bin" / "buf"
    assert buf.exists(), "buf is missing: run `make node-deps`"
    image = tmp_path / "image.binpb"
    protoc = [sys.executable, "-m", "grpc_tools.protoc", *[f"-I{d}" for d in protogen.include_dirs()],
              "--include_imports", "--include_source_info", f"-o{image}",
              *[str(p) for p in protogen.proto_files()]]
    subprocess.run(protoc, check=True, cwd=protogen.PROTO_ROOT)
    lint = subprocess.run([str(buf), "lint", str(image), "--config", "buf.yaml", "--path", "imagesearch"],
                          cwd=protogen.PROTO_ROOT, capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr
