"""Settings of issue 10: /metrics binds like the API, the Qdrant key comes from a file or
the environment (the flag warns: it shows in ps), and the new store limits load."""

from __future__ import annotations

import socket
import urllib.request
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from conftest import free_port
from imagesearch.config import Settings, load_settings
from test_config import parse


def non_loopback_address() -> str | None:
    """An address of this machine that is not loopback (the one its default route uses)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # UDP: no packet is sent
        except OSError:
            return None
        address = probe.getsockname()[0]
    return None if address.startswith("127.") else address


def scrape(host: str, port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.mark.parametrize(
    "listen, metrics_host, bound",
    [("127.0.0.1:50051", "", "127.0.0.1"), ("[::1]:50051", "", "::1"), ("0.0.0.0:50051", "", "0.0.0.0"),
     ("127.0.0.1:50051", "0.0.0.0", "0.0.0.0"), ("unix:/tmp/s.sock", "", "127.0.0.1")],
)
def test_metrics_host_follows_the_api(listen: str, metrics_host: str, bound: str) -> None:
    assert Settings(listen=listen, metrics_host=metrics_host).metrics_bind_host == bound


def test_metrics_endpoint_is_not_reachable_from_outside_by_default() -> None:
    from imagesearch.app import start_metrics_http

    settings = Settings(metrics_port=free_port())  # listen defaults to 127.0.0.1:50051
    server, _thread = start_metrics_http(settings, CollectorRegistry())
    try:
        assert server.server_address[0] == "127.0.0.1"
        assert scrape("127.0.0.1", settings.metrics_port)
        outside = non_loopback_address()
        if outside is not None:  # a machine with only loopback has no outside to test
            assert not scrape(outside, settings.metrics_port)
    finally:
        server.shutdown()
        server.server_close()


def test_qdrant_key_from_a_file(tmp_path: Path) -> None:
    key_file = tmp_path / "qdrant.key"
    key_file.write_text("  s3cret-key\n")
    settings = load_settings(parse("--qdrant-api-key-file", str(key_file)), environ={})
    assert settings.qdrant_api_key == "s3cret-key"
    assert "s3cret" not in repr(settings)
    from_env = load_settings(parse(), environ={"IMAGESEARCH_QDRANT_API_KEY_FILE": str(key_file)})
    assert from_env.qdrant_api_key == "s3cret-key"
    assert load_settings(parse(), environ={"IMAGESEARCH_QDRANT_API_KEY": "k2"}).qdrant_api_key == "k2"
    with pytest.raises(ValueError, match="both set"):
        load_settings(parse("--qdrant-api-key-file", str(key_file)), environ={"IMAGESEARCH_QDRANT_API_KEY": "k2"})


def test_qdrant_key_flag_is_deprecated() -> None:
    with pytest.warns(FutureWarning, match="qdrant-api-key-file"):
        settings = load_settings(parse("--qdrant-api-key", "on-the-command-line"), environ={})
    assert settings.qdrant_api_key == "on-the-command-line"  # still works for now


def test_store_limits_reach_the_index_settings() -> None:
    from imagesearch.store.factory import index_settings

    settings = load_settings(
        parse("--max-filter-indexes", "4", "--index-journal-max-mb", "8", "--index-disk-margin", "3"),
        environ={"IMAGESEARCH_INDEX_RETRY_BASE_S": "5", "IMAGESEARCH_INDEX_RETRY_MAX_S": "50"},
    )
    index = index_settings(settings)
    assert (index.max_filter_indexes, index.journal_max_bytes, index.disk_margin) == (4, 8 * 2**20, 3.0)
    assert (index.retry_base_s, index.retry_max_s) == (5.0, 50.0)
