"""Settings come from defaults < TOML file < environment < flags."""

import argparse
from pathlib import Path

import pytest

from imagesearch.config import Settings, add_arguments, load_settings


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(argv)


def test_defaults() -> None:
    settings = load_settings(parse(), environ={})
    assert settings == Settings()
    assert settings.local_triton and settings.max_message_bytes >= 20 * 1024 * 1024


def test_precedence(tmp_path: Path) -> None:
    config = tmp_path / "imagesearch.toml"
    config.write_text('metrics_port = 1111\nindex_threshold = 5\nlog_level = "DEBUG"\n')
    settings = load_settings(
        parse("--config", str(config), "--metrics-port", "3333"),
        environ={"IMAGESEARCH_METRICS_PORT": "2222", "IMAGESEARCH_INDEX_THRESHOLD": "7"},
    )
    assert settings.metrics_port == 3333  # flag beats env and file
    assert settings.index_threshold == 7  # env beats file
    assert settings.log_level == "DEBUG"  # file beats default


def test_config_file_from_environment(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('triton_url = "triton:8001"\n')
    settings = load_settings(parse(), environ={"IMAGESEARCH_CONFIG": str(config)})
    assert settings.triton_url == "triton:8001" and not settings.local_triton


def test_unknown_setting_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text("metrics_prot = 1\n")
    with pytest.raises(ValueError, match="metrics_prot"):
        load_settings(parse("--config", str(config)), environ={})
