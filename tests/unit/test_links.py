"""The links on desk pages and posters, and the setting that names the bot's Telegram account."""

from __future__ import annotations

import pytest

from bot.core_config import CoreConfig
from bot.services import links
from config.settings import SettingsError, load_settings


def test_join_links_name_the_bin_on_each_platform() -> None:
    config = CoreConfig(telegram_username="zone_bin_bot", matrix_user_id="@binbot:example.org")
    found = links.join(config, "noord")
    assert found.telegram == "https://t.me/zone_bin_bot?start=join-noord"
    assert found.matrix == "https://matrix.to/#/@binbot:example.org?text=%21join%20noord"
    assert found.command == "/join noord"


def test_invite_links_and_unknown_accounts_give_no_link() -> None:
    found = links.invite(CoreConfig(), "ABC-DEF-GHJ")
    assert (found.telegram, found.matrix) == ("", "")
    assert found.command == "/redeem ABC-DEF-GHJ"
    tg = links.invite(CoreConfig(telegram_username="zone_bin_bot"), "ABC-DEF-GHJ")
    assert tg.telegram == "https://t.me/zone_bin_bot?start=ABC-DEF-GHJ"


@pytest.mark.parametrize("value", ["@zone_bin_bot", " zone_bin_bot "])
def test_username_setting_is_read_without_the_at(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BINBOT_TELEGRAM__USERNAME", value)
    settings = load_settings()
    assert settings.telegram.username == "zone_bin_bot"


@pytest.mark.parametrize("value", ["zone bin bot", "ab", "zone_bin", "https://t.me/zone_bot"])
def test_a_wrong_username_is_refused_naming_the_variable(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BINBOT_TELEGRAM__USERNAME", value)
    with pytest.raises(SettingsError, match="BINBOT_TELEGRAM__USERNAME"):
        load_settings()
