"""The server's settings: one typed object, read from defaults, an optional TOML file,
IMAGESEARCH_* environment variables and command-line flags (later sources win)."""

from __future__ import annotations

import argparse
import dataclasses
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

REPO_ROOT = Path(__file__).resolve().parents[2]
ENV_PREFIX = "IMAGESEARCH_"


def _default_model_repository() -> Path:
    # A source checkout (the supported install) carries model_repository/ beside server/.
    candidate = REPO_ROOT / "model_repository"
    return candidate if candidate.is_dir() else Path("model_repository")


@dataclass(frozen=True)
class Settings:
    """Everything `imagesearch serve` can be told. Field docs are the --help texts."""

    listen: str = field(
        default="127.0.0.1:50051",
        metadata={"help": "gRPC address to serve on; use 0.0.0.0:50051 to accept remote clients"},
    )
    metrics_port: int = field(
        default=9464, metadata={"help": "port of the Prometheus /metrics endpoint (0 disables it)"}
    )
    http_port: int = field(
        default=8080,
        metadata={
            "help": "port of the HTTP/JSON API (REST transcoding of the gRPC API, OpenAPI at /openapi.json; "
            "see docs/http.md), on the host of --listen; 0 disables it"
        },
    )
    data_dir: Path = field(
        default=Path("data"), metadata={"help": "where the embedded vector store and Triton's work files live"}
    )
    model_repository: Path = field(
        default_factory=_default_model_repository,
        metadata={"help": "Triton model repository served by the local Triton"},
    )
    triton_url: str = field(
        default="",
        metadata={"help": "host:port of an external Triton (gRPC); empty starts a local tritonserver"},
    )
    triton_grpc_port: int = field(
        default=0, metadata={"help": "gRPC port of the local Triton (0 picks a free one)"}
    )
    triton_start_timeout_s: float = field(
        default=180.0, metadata={"help": "how long to wait for the local Triton and its models"}
    )
    inference_timeout_s: float = field(
        default=30.0, metadata={"help": "deadline of one inference request to Triton"}
    )
    qdrant_url: str = field(
        default="", metadata={"help": "URL of a Qdrant server or cluster; empty uses the embedded engine"}
    )
    qdrant_api_key: str = field(default="", metadata={"help": "API key for --qdrant-url"})
    index_threshold: int = field(
        default=20_000,
        metadata={"help": "unindexed points in a collection that trigger a background HNSW build"},
    )
    index_quantization: str = field(
        default="int8",
        metadata={
            "help": "vector quantization of collections created from now on, embedded store only: int8 "
            "(builds and walks the index on int8 copies, rescored with the float vectors: faster builds "
            "and queries for ~20%% more memory, see docs/benchmarks.md) or none",
        },
    )
    max_message_mb: int = field(
        default=32, metadata={"help": "largest gRPC message accepted or sent, in MiB (a 20 MB photo fits)"}
    )
    max_image_pixels: int = field(
        default=64_000_000,
        metadata={"help": "images declaring more pixels are refused before decoding (decompression bombs)"},
    )
    insert_concurrency: int = field(
        default=16,
        metadata={"help": "images of one InsertStream encoded at once (lets Triton batch them)"},
    )
    url_allow_hosts: str = field(
        default="",
        metadata={
            "help": "comma-separated host names, addresses or CIDR ranges that image_url may reach even "
            "though they are loopback/private/link-local (all other non-public addresses are refused)"
        },
    )
    url_max_mb: int = field(default=20, metadata={"help": "largest image_url download, in MB (10^6 bytes)"})
    url_timeout_s: float = field(
        default=10.0, metadata={"help": "deadline of one image_url download, redirects included"}
    )
    url_max_redirects: int = field(default=3, metadata={"help": "redirects an image_url download may follow"})
    shutdown_grace_s: float = field(
        default=30.0, metadata={"help": "on SIGTERM, how long in-flight calls may take to finish"}
    )
    log_level: str = field(default="INFO", metadata={"help": "DEBUG, INFO, WARNING or ERROR"})

    @property
    def local_triton(self) -> bool:
        """True when the server starts and supervises its own tritonserver."""
        return not self.triton_url

    @property
    def max_message_bytes(self) -> int:
        """The gRPC message size limit in bytes."""
        return self.max_message_mb * 1024 * 1024


def _coerce(value: Any, annotation: str) -> Any:
    kind = annotation.replace("Path", "path")
    if kind == "path":
        return Path(value)
    if kind == "int":
        return int(value)
    if kind == "float":
        return float(value)
    return str(value)


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds one flag per Settings field, plus --config, to `parser`."""
    parser.add_argument(
        "--config", type=Path, default=None, help=f"TOML file of settings (also ${ENV_PREFIX}CONFIG)"
    )
    for f in dataclasses.fields(Settings):
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        parser.add_argument(
            _flag(f.name),
            dest=f.name,
            default=None,
            help=f"{f.metadata['help']} (env {ENV_PREFIX}{f.name.upper()}; default: {default or repr(default)})",
        )


def load_settings(
    args: argparse.Namespace | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Builds Settings from defaults < config file < environment < parsed flags."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    config_file = getattr(args, "config", None) or environ.get(ENV_PREFIX + "CONFIG")
    if config_file:
        with open(config_file, "rb") as fh:
            values.update(tomllib.load(fh))
    names = {f.name: f for f in dataclasses.fields(Settings)}
    unknown = set(values) - set(names)
    if unknown:
        raise ValueError(f"unknown settings in {config_file}: {', '.join(sorted(unknown))}")
    for name in names:
        if ENV_PREFIX + name.upper() in environ:
            values[name] = environ[ENV_PREFIX + name.upper()]
        if args is not None and getattr(args, name, None) is not None:
            values[name] = getattr(args, name)
    typed = {name: _coerce(v, str(names[name].type)) for name, v in values.items()}
    return Settings(**typed)
