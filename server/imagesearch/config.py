"""The server's settings: one typed object, read from defaults, an optional TOML file,
IMAGESEARCH_* environment variables and command-line flags (later sources win)."""

from __future__ import annotations

import argparse
import dataclasses
import os
import tomllib
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from imagesearch.limits import (
    DEFAULT_DECODE_CONCURRENCY, DUPLICATE_CLAIM_LEASE_S, MAX_COLLECTIONS, MAX_CONCURRENT_RPCS, QUOTA_KEY_BURST,
    QUOTA_KEY_REQUESTS_PER_S, QUOTA_KEY_STREAMS,
)

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
    # The endpoint used to listen on every interface while the API defaults to loopback
    # (issue 10): it now follows the API's host unless told otherwise.
    metrics_host: str = field(
        default="",
        metadata={"help": "address the /metrics endpoint listens on; empty: the host of --listen"},
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
    # OCR reads every text line of an image: a text-heavy photo takes seconds, and a Triton
    # batch of them (max_batch_size 8) tens of seconds on a loaded 2-core CPU, where the
    # encoders' 30 s deadline expired in a test import of six text images (2026-12-02).
    ocr_timeout_s: float = field(
        default=120.0, metadata={"help": "deadline of one OCR request to Triton (reading text is slower)"}
    )
    qdrant_url: str = field(
        default="", metadata={"help": "URL of a Qdrant server or cluster; empty uses the embedded engine"}
    )
    # Not in repr: Settings objects get logged. The flag form shows in `ps` to every user of
    # the machine, so it is deprecated in favour of the file or the environment variable.
    qdrant_api_key: str = field(
        default="",
        repr=False,
        metadata={
            "help": "API key for --qdrant-url (deprecated as a flag, visible in ps: use "
            "--qdrant-api-key-file or the environment variable)"
        },
    )
    qdrant_api_key_file: str = field(
        default="",
        metadata={"help": "file holding the API key for --qdrant-url (surrounding whitespace ignored)"},
    )
    # Qdrant cluster layout of collections created from now on (remote store only; k8s
    # scale-out sets 6 and 2). 0 leaves the choice to the server (1 shard per node, 1 copy).
    qdrant_shard_number: int = field(
        default=0, metadata={"help": "shards of each new Qdrant collection (0: the server's default)"}
    )
    qdrant_replication_factor: int = field(
        default=0,
        metadata={"help": "copies of each shard of a new Qdrant collection (0: the server's default, 1)"},
    )
    qdrant_cache_ttl_s: float = field(
        default=5.0,
        metadata={
            "help": "how long an API replica trusts its cached copy of a Qdrant collection's model set "
            "and moderation policy before reading them again (remote store only)"
        },
    )
    duplicate_claim_lease_s: float = field(
        default=DUPLICATE_CLAIM_LEASE_S,
        metadata={
            "help": "how long an insert's duplicate-check claim may stay unsettled before other API "
            "replicas treat its owner as dead (a crash between check and write blocks near-copies "
            "of that image for this long; docs/deploy.md, Several API replicas)"
        },
    )
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
    index_journal_max_mb: int = field(
        default=1024,
        metadata={
            "help": "embedded store: MiB of writes journaled to disk during one index build; past it the "
            "build is abandoned and retried later"
        },
    )
    index_retry_base_s: float = field(
        default=60.0,
        metadata={"help": "embedded store: pause after a failed index build, doubled per consecutive failure"},
    )
    index_retry_max_s: float = field(
        default=3600.0, metadata={"help": "embedded store: longest pause between failed index builds"}
    )
    index_disk_margin: float = field(
        default=2.0,
        metadata={"help": "embedded store: an index build starts only with this many times the shard's size free"},
    )
    index_dead_points_min: int = field(
        default=500,
        metadata={
            "help": "embedded store: old copies of replaced or deleted points (kept by the engine until a "
            "build rewrites their segment) that start a background build once also past 20%% of the points"
        },
    )
    max_filter_indexes: int = field(
        default=32,
        metadata={
            "help": "payload indexes a collection creates for filtered metadata keys; further keys are "
            "filtered without an index"
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
    decode_concurrency: int = field(
        default=DEFAULT_DECODE_CONCURRENCY,
        metadata={
            "help": "images the API server decodes at once, server-wide (fingerprints, duplicate candidates), "
            "on a thread pool of its own"
        },
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
    # Faces (faces/manager.py FaceSettings; docs/faces.md).
    faces_min_listed: int = field(
        default=2,
        metadata={"help": "faces a person needs before it is listed (one-off faces are mostly passers-by)"},
    )
    faces_recluster_every: int = field(
        default=1000,
        metadata={
            "help": "new faces in a collection after which its people are reclustered in the background "
            "(0: only on demand; cost grows with faces squared, see docs/benchmarks.md)"
        },
    )
    shutdown_grace_s: float = field(
        default=30.0, metadata={"help": "on SIGTERM, how long in-flight calls may take to finish"}
    )
    # Access control (imagesearch.auth, docs/security.md): keys are enforced whenever the
    # key file holds at least one key; without keys only a loopback listen address is served.
    api_keys_file: Path = field(
        default=Path(""),
        metadata={
            "help": "JSON file of hashed API keys (written by `imagesearch keys`); empty: <data_dir>/api_keys.json. "
            "Re-read within 2 s of a change, so a revoked key stops working without a restart"
        },
    )
    insecure_no_auth: bool = field(
        default=False,
        metadata={"help": "serve a non-loopback --listen address without API keys (anyone who reaches it may "
                  "do anything); without it the server refuses to start there"},
    )
    reflection: bool = field(
        default=True, metadata={"help": "serve gRPC server reflection (open to callers without a key, as health is)"}
    )
    # TLS (imagesearch.auth.tls, docs/security.md "TLS"): with a certificate and key, the gRPC
    # port and the HTTP/JSON gateway speak only TLS; with a client CA too, both require a
    # client certificate it signed (mutual TLS).
    tls_cert_file: str = field(
        default="",
        metadata={"help": "PEM certificate (chain) of the server; with tls_key_file, gRPC and HTTP serve TLS only"},
    )
    tls_key_file: str = field(default="", metadata={"help": "PEM private key of tls_cert_file"})
    tls_client_ca_file: str = field(
        default="",
        metadata={"help": "PEM CA certificates: when set, every client must present a certificate they signed "
                  "(mutual TLS, gRPC and HTTP)"},
    )
    health_port: int = field(
        default=0,
        metadata={"help": "plaintext port serving only grpc.health.v1, on the host of --listen, for Kubernetes' gRPC "
                  "probes, which cannot speak TLS; 0: none (health is on the API port, as always)"},
    )
    # Quotas (imagesearch.auth.quotas, docs/security.md "Quotas"): per server process, so a
    # deployment of N replicas admits up to N times these. 0 turns a quota off.
    quota_key_requests_per_s: float = field(
        default=QUOTA_KEY_REQUESTS_PER_S,
        metadata={"help": "calls per second one API key may start (a token bucket, per replica; 0: no limit)"},
    )
    quota_key_burst: int = field(
        default=QUOTA_KEY_BURST,
        metadata={"help": "calls one API key may start at once above its rate (the bucket's size)"},
    )
    quota_key_streams: int = field(
        default=QUOTA_KEY_STREAMS,
        metadata={"help": "streaming calls (search, import, duplicates) one API key may have open at once "
                  "(per replica; 0: no limit)"},
    )
    max_concurrent_rpcs: int = field(
        default=MAX_CONCURRENT_RPCS,
        metadata={"help": "API calls this server runs at once, all callers together (health excluded; 0: no limit)"},
    )
    max_collections: int = field(
        default=MAX_COLLECTIONS, metadata={"help": "collections the store may hold; CreateCollection past it is refused"},
    )
    log_level: str = field(default="INFO", metadata={"help": "DEBUG, INFO, WARNING or ERROR"})

    @property
    def local_triton(self) -> bool:
        """True when the server starts and supervises its own tritonserver."""
        return not self.triton_url

    @property
    def metrics_bind_host(self) -> str:
        """Where /metrics listens: metrics_host, else the host part of `listen`."""
        if self.metrics_host:
            return self.metrics_host
        if self.listen.startswith("unix:"):
            return "127.0.0.1"
        host = self.listen.rsplit(":", 1)[0] if ":" in self.listen else self.listen
        return host.strip("[]") or "127.0.0.1"

    @property
    def api_keys_path(self) -> Path:
        """The API key file: api_keys_file, else data_dir/api_keys.json."""
        return self.api_keys_file if str(self.api_keys_file) not in ("", ".") else self.data_dir / "api_keys.json"

    @property
    def tls(self) -> bool:
        """True when the server serves TLS (a certificate and a key are set)."""
        return bool(self.tls_cert_file and self.tls_key_file)

    @property
    def max_message_bytes(self) -> int:
        """The gRPC message size limit in bytes."""
        return self.max_message_mb * 1024 * 1024


_BOOLS = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False}


def _coerce(value: Any, annotation: str) -> Any:
    kind = annotation.replace("Path", "path")
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if str(value).lower() not in _BOOLS:
            raise ValueError(f"not a boolean: {value!r} (true/false, yes/no, on/off, 1/0)")
        return _BOOLS[str(value).lower()]
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
        # A boolean flag alone means true (--insecure-no-auth); it also takes a value (--reflection off).
        flag_only = {"nargs": "?", "const": "true"} if str(f.type) == "bool" else {}
        parser.add_argument(
            _flag(f.name),
            dest=f.name,
            default=None,
            **flag_only,
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
    if args is not None and getattr(args, "qdrant_api_key", None) is not None:
        warnings.warn(
            "--qdrant-api-key shows the key to every user of this machine (ps, /proc); use "
            f"--qdrant-api-key-file or {ENV_PREFIX}QDRANT_API_KEY instead. The flag will be removed.",
            FutureWarning,
            stacklevel=2,
        )
    typed = {name: _coerce(v, str(names[name].type)) for name, v in values.items()}
    _read_key_file(typed)
    return Settings(**typed)


def _read_key_file(values: dict[str, Any]) -> None:
    """Fill qdrant_api_key from qdrant_api_key_file; both at once is a mistake worth stopping on."""
    path = values.get("qdrant_api_key_file")
    if not path:
        return
    if values.get("qdrant_api_key"):
        raise ValueError("qdrant_api_key and qdrant_api_key_file are both set; set one of them")
    values["qdrant_api_key"] = Path(path).read_text(encoding="utf-8").strip()
