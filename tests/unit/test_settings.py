"""Settings: environment over TOML, async URLs, secrets hidden, one clear line on error."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from config.settings import SettingsError, async_database_url, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("BINBOT_"):
            monkeypatch.delenv(name)


def test_defaults_need_nothing() -> None:
    s = load_settings()
    assert s.database_url == "sqlite+aiosqlite:///binbot.db"
    assert s.default_language == "nl"
    assert s.platforms_enabled == []


@pytest.mark.parametrize(
    ("given", "wanted"),
    [
        ("binbot.db", "sqlite+aiosqlite:///binbot.db"),
        ("sqlite:///data/b.db", "sqlite+aiosqlite:///data/b.db"),
        ("postgresql://bot@db/binbot", "postgresql+asyncpg://bot@db/binbot"),
        ("postgres://bot@db/binbot", "postgresql+asyncpg://bot@db/binbot"),
        ("postgresql+asyncpg://bot@db/binbot", "postgresql+asyncpg://bot@db/binbot"),
    ],
)
def test_database_urls_map_to_async_drivers(given: str, wanted: str) -> None:
    assert async_database_url(given) == wanted


def test_environment_nested_and_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BINBOT_TELEGRAM__TOKEN", "123:secret")
    monkeypatch.setenv("BINBOT_TELEGRAM__BASE_URL", "http://127.0.0.1:9/bot")
    monkeypatch.setenv("BINBOT_DEFAULT_LANGUAGE", "fr")
    s = load_settings()
    assert s.platforms_enabled == ["telegram"]
    assert s.telegram.base_url == "http://127.0.0.1:9/bot"
    assert s.default_language == "fr"
    assert "123:secret" not in repr(s) and "123:secret" not in str(s.model_dump())


def test_toml_file_under_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "binbot.toml"
    cfg.write_text(
        'database_url = "x.db"\ndefault_language = "de"\n'
        '[matrix]\nhomeserver = "http://127.0.0.1:8008"\n'
        'user_id = "@bot:localhost"\npassword = "pw"\n'
    )
    monkeypatch.setenv("BINBOT_DEFAULT_LANGUAGE", "en")
    s = load_settings(cfg)
    assert s.database_url.endswith("x.db")
    assert s.default_language == "en"
    assert s.platforms_enabled == ["matrix"]
    monkeypatch.setenv("BINBOT_CONFIG", str(cfg))
    assert load_settings().matrix.user_id == "@bot:localhost"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"BINBOT_DEFAULT_LANGUAGE": "xx"}, "BINBOT_DEFAULT_LANGUAGE"),
        ({"BINBOT_TELEGRAM__RATE_OVERALL": "fast"}, "BINBOT_TELEGRAM__RATE_OVERALL"),
        ({"BINBOT_DATABASE_URL": "mysql://x"}, "BINBOT_DATABASE_URL"),
        ({"BINBOT_MATRIX__HOMESERVER": "http://h"}, "BINBOT_MATRIX"),
        ({"BINBOT_CONFIG": "/nonexistent/b.toml"}, "BINBOT_CONFIG"),
    ],
)
def test_malformed_setting_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], message: str
) -> None:
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(SettingsError) as err:
        load_settings()
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_unknown_key_in_toml(tmp_path: Path) -> None:
    cfg = tmp_path / "b.toml"
    cfg.write_text('databse_url = "typo.db"\n')
    with pytest.raises(SettingsError, match="BINBOT_DATABSE_URL"):
        load_settings(cfg)


def binbot(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=60,
    )


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("BINBOT_")}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    env["BINBOT_DATABASE_URL"] = str(tmp_path / "cli.db")
    env.update(extra)
    return env


def test_run_without_platform_says_what_to_set(tmp_path: Path) -> None:
    done = binbot("run", env=_env(tmp_path), cwd=tmp_path)
    assert done.returncode == 2
    assert "BINBOT_TELEGRAM__TOKEN" in done.stderr and "BINBOT_MATRIX__HOMESERVER" in done.stderr


def test_start_refuses_a_broken_setting_in_one_line(tmp_path: Path) -> None:
    done = binbot(
        "zone", "list", env=_env(tmp_path, BINBOT_DEFAULT_LANGUAGE="klingon"), cwd=tmp_path
    )
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0
    assert "BINBOT_DEFAULT_LANGUAGE" in done.stderr
    assert not (tmp_path / "cli.db").exists()
