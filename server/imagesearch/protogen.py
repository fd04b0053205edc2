"""Generates the Python gRPC code of the API from protos/ into the client package.

The stubs live in `imagesearch_client.v1` (clients/python), so that the client installs
without the server; the server imports them from there. protoc names generated modules
after the proto path (`imagesearch.v1`), so the imports between generated modules are
rewritten to the client package's name.

Run `python -m imagesearch.protogen` after editing a .proto file; a test regenerates
into a temporary folder and fails if the committed code is stale.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import grpc_tools
from google.api import annotations_pb2
from grpc_tools import protoc

REPO_ROOT = Path(__file__).resolve().parents[2]
PROTO_ROOT = REPO_ROOT / "protos"
CLIENT_ROOT = REPO_ROOT / "clients" / "python"
# protoc writes imagesearch/v1/*.py under a scratch root; they are moved here.
DEFAULT_OUT = CLIENT_ROOT / "imagesearch_client" / "v1"
PROTO_PACKAGE_DIR = Path("imagesearch") / "v1"
_IMPORT = re.compile(r"^from imagesearch\.v1 import ", re.MULTILINE)


def proto_files() -> list[Path]:
    """Every .proto file of the API, relative to PROTO_ROOT, in a stable order."""
    return sorted(p.relative_to(PROTO_ROOT) for p in PROTO_ROOT.rglob("*.proto"))


def include_dirs() -> list[Path]:
    """protoc's include path: the API, protobuf's well-known types, googleapis' protos."""
    well_known = Path(grpc_tools.__file__).parent / "_proto"
    googleapis = Path(annotations_pb2.__file__).parents[2]  # site-packages holding google/api
    return [PROTO_ROOT, well_known, googleapis]


def generate(out_dir: Path) -> list[Path]:
    """Writes *_pb2.py, *_pb2.pyi and *_pb2_grpc.py for every proto into `out_dir`."""
    scratch = out_dir / "_protoc"
    scratch.mkdir(parents=True, exist_ok=True)
    args = ["grpc_tools.protoc", *[f"-I{d}" for d in include_dirs()],
            f"--python_out={scratch}", f"--pyi_out={scratch}", f"--grpc_python_out={scratch}",
            *[str(p) for p in proto_files()]]
    if protoc.main(args) != 0:
        raise RuntimeError("protoc failed; see the messages above")
    written = []
    for proto in proto_files():
        stem = proto.with_suffix("").name
        for suffix in ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py"):
            source = scratch / proto.parent / f"{stem}{suffix}"
            target = out_dir / f"{stem}{suffix}"
            target.write_text(_IMPORT.sub("from imagesearch_client.v1 import ", source.read_text()))
            source.unlink()
            written.append(target)
    _remove_tree(scratch)
    return written


def _remove_tree(path: Path) -> None:
    for child in sorted(path.rglob("*"), reverse=True):
        child.rmdir() if child.is_dir() else child.unlink()
    path.rmdir()


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: regenerate the committed code (or into --out)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default: %(default)s)")
    ns = parser.parse_args(argv)
    ns.out.mkdir(parents=True, exist_ok=True)
    for path in generate(ns.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
