"""One typed settings object: environment (BINBOT_..., nested with __) over an optional TOML file.

Nothing else reads the environment. Built once in the composition root and passed down.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

Language = Literal["nl", "fr", "de", "en"]


class SettingsError(Exception):
    """A setting is missing or malformed; the message names the variable in one line."""


class TelegramSettings(BaseModel):
    """Telegram bot account and its limits."""

    token: SecretStr | None = None
    username: str | None = Field(
        default=None,
        description="the bot's @username without the @, for t.me links on the desk and posters",
    )
    base_url: str | None = Field(
        default=None, description="Bot API server, e.g. http://127.0.0.1:8081/bot"
    )
    webhook_url: str | None = None
    webhook_listen: str = "127.0.0.1"
    webhook_port: int = Field(default=8443, ge=1, le=65535)
    webhook_secret: SecretStr | None = None
    poll_timeout: float = Field(default=30.0, ge=0)
    rate_overall: float = Field(default=30.0, gt=0, description="messages per second overall")
    rate_per_chat: float = Field(default=1.0, gt=0, description="messages per second per chat")
    rate_per_group_minute: int = Field(
        default=20, gt=0, description="messages per minute per group"
    )

    @field_validator("username")
    @classmethod
    def _username(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip().removeprefix("@")
        # Telegram: 5 to 32 letters, digits and underscores; a bot's ends in "bot".
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{3,30}[A-Za-z0-9]", value) or not (
            value.lower().endswith("bot")
        ):
            raise ValueError("must be the bot's Telegram username, e.g. zone_bin_bot")
        return value

    @property
    def enabled(self) -> bool:
        return self.token is not None and bool(self.token.get_secret_value())


class MatrixSettings(BaseModel):
    """Matrix account: password login, or an access token."""

    homeserver: str | None = None
    user_id: str | None = None
    password: SecretStr | None = None
    access_token: SecretStr | None = None
    device_id: str | None = None
    device_name: str = "binbot"
    encryption: bool = True
    leave_unlinked_after: float = Field(default=3600.0, ge=0, description="seconds")
    max_retries: int = Field(default=5, ge=0)
    concurrency: int = Field(default=16, ge=1)
    sync: bool = Field(
        default=True, description="hand Matrix events to the core (one process); false: send only"
    )

    @model_validator(mode="after")
    def _complete(self) -> MatrixSettings:
        if self.homeserver or self.user_id:
            if not self.homeserver:
                raise ValueError(
                    "set BINBOT_MATRIX__HOMESERVER too (BINBOT_MATRIX__USER_ID is set)"
                )
            if not self.user_id:
                raise ValueError(
                    "set BINBOT_MATRIX__USER_ID too (BINBOT_MATRIX__HOMESERVER is set)"
                )
            if self.password is None and self.access_token is None:
                raise ValueError("set BINBOT_MATRIX__PASSWORD or BINBOT_MATRIX__ACCESS_TOKEN")
            if not self.sync and self.password is None:
                # A sending process logs in as a device of its own: two processes must never
                # share one device's encryption keys, so one access token cannot serve both.
                raise ValueError(
                    "set BINBOT_MATRIX__PASSWORD: with BINBOT_MATRIX__SYNC=false this process "
                    "logs in as its own device"
                )
        return self

    @property
    def enabled(self) -> bool:
        return bool(self.homeserver and self.user_id)


class DeliverySettings(BaseModel):
    """The outbox worker."""

    poll_interval: float = Field(default=1.0, gt=0)
    max_attempts: int = Field(default=12, ge=1)
    backoff_base: float = Field(default=1.0, gt=0)
    backoff_max: float = Field(default=300.0, gt=0)
    concurrency: int = Field(default=32, ge=1)
    connections: int = Field(
        default=4,
        ge=1,
        description="database connections the worker's per-row updates use at once",
    )
    lease: float = Field(
        default=300.0, gt=0, description="seconds a claimed delivery may stay in sending"
    )


class HttpSettings(BaseModel):
    """The HTTP server: `/healthz`, `/metrics` and the desk (`/desk/`); port 0 turns it off."""

    listen: str = "127.0.0.1"
    port: int = Field(default=9464, ge=0, le=65535)
    public_url: str | None = Field(
        default=None,
        description="the address people open the desk at (default http://LISTEN:PORT)",
    )
    desk_idle_hours: float = Field(
        default=8.0, gt=0, description="a desk session ends after this long unused"
    )

    @field_validator("public_url")
    @classmethod
    def _public(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip().rstrip("/")
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value

    @property
    def desk_url(self) -> str:
        """The base address of links to the desk."""
        return self.public_url or f"http://{self.listen}:{self.port}"


class RetentionSettings(BaseModel):
    """How long records are kept, in days (bot/register.py says what each one covers)."""

    seen_days: int = Field(
        default=0, ge=0, description="Seen marks, after the message is no longer current"
    )
    requests_days: int = Field(default=30, ge=1, description="join requests, after the decision")
    ended_days: int = Field(
        default=90, ge=1, description="ended memberships and revoked roles, after they ended"
    )
    inactive_days: int = Field(
        default=180, ge=1, description="people with nothing ongoing, after their last contact"
    )
    invites_days: int = Field(default=30, ge=1, description="invites, once used or expired")
    deliveries_days: int = Field(
        default=90, ge=1, description="delivery rows, after the message was sent"
    )
    groups_days: int = Field(default=365, ge=1, description="unlinked groups")
    reminders_days: int = Field(default=90, ge=1, description="101 reminder rows")
    audit_days: int = Field(default=365, ge=1, description="the audit log")
    figures_days: int = Field(default=1830, ge=1, description="monthly figures per BIN")


class Settings(BaseSettings):
    """Every setting of a deployment."""

    model_config = SettingsConfigDict(
        env_prefix="BINBOT_",
        env_nested_delimiter="__",
        extra="forbid",
        case_sensitive=False,
    )

    database_url: str = "binbot.db"
    data_dir: Path = Path("binbot-data")
    default_language: Language = "nl"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_json: bool = False
    process_name: str = Field(default_factory=lambda: f"binbot-{os.getpid()}")
    run_scheduler: bool = True
    join_request_days: float = Field(default=7.0, gt=0)
    join_cooldown_days: float = Field(default=7.0, ge=0, le=365)
    nudge_cooldown_minutes: float = Field(default=30.0, ge=0)
    conversation_timeout_minutes: float = Field(default=15.0, gt=0)
    media_keep_days: float = Field(
        default=30.0,
        ge=0,
        description="days the photo of an official message is kept after it expired",
    )
    telegram: TelegramSettings = TelegramSettings()
    matrix: MatrixSettings = MatrixSettings()
    delivery: DeliverySettings = DeliverySettings()
    http: HttpSettings = HttpSettings()
    retention: RetentionSettings = RetentionSettings()

    @field_validator("database_url")
    @classmethod
    def _url(cls, value: str) -> str:
        return async_database_url(value)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        toml_file = _TOML_FILE.get("path")
        if toml_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_file))
        return tuple(sources)

    @property
    def platforms_enabled(self) -> list[str]:
        """Names of the platforms with enough settings to run."""
        return [
            name
            for name, on in (("telegram", self.telegram.enabled), ("matrix", self.matrix.enabled))
            if on
        ]


_TOML_FILE: dict[str, Path] = {}


def async_database_url(value: str) -> str:
    """Map a plain path or a sync URL to the async driver SQLAlchemy should use."""
    value = value.strip()
    if not value:
        raise ValueError("must not be empty")
    if "://" not in value:
        return f"sqlite+aiosqlite:///{value}"
    scheme, rest = value.split("://", 1)
    mapping = {
        "sqlite": "sqlite+aiosqlite",
        "postgresql": "postgresql+asyncpg",
        "postgres": "postgresql+asyncpg",
        "postgresql+psycopg2": "postgresql+asyncpg",
        "postgresql+psycopg": "postgresql+asyncpg",
    }
    if scheme in ("sqlite+aiosqlite", "postgresql+asyncpg"):
        return value
    if scheme not in mapping:
        raise ValueError("use a SQLite path, sqlite:///FILE or postgresql://USER@HOST/DB")
    return f"{mapping[scheme]}://{rest}"


def unknown_variables(environ: Mapping[str, str] | None = None) -> list[str]:
    """BINBOT_ variables that name no setting: the environment source ignores them silently."""
    known = {"BINBOT_CONFIG", "BINBOT_TEST_POSTGRES"}
    for name, info in Settings.model_fields.items():
        group = info.annotation
        if isinstance(group, type) and issubclass(group, BaseModel):
            known.update(f"BINBOT_{name}__{sub}".upper() for sub in group.model_fields)
        else:
            known.add(f"BINBOT_{name}".upper())
    names = os.environ if environ is None else environ
    return sorted(k for k in names if k.upper().startswith("BINBOT_") and k.upper() not in known)


def _env_name(loc: tuple[Any, ...]) -> str:
    return "BINBOT_" + "__".join(str(part).upper() for part in loc if not isinstance(part, int))


def load_settings(config_file: str | Path | None = None, **overrides: Any) -> Settings:
    """Build the settings, or raise SettingsError with one line naming the variable."""
    path = config_file or os.environ.get("BINBOT_CONFIG")
    _TOML_FILE.clear()
    if path:
        toml_path = Path(path)
        if not toml_path.is_file():
            raise SettingsError(f"configuration file not found: {toml_path} (BINBOT_CONFIG)")
        _TOML_FILE["path"] = toml_path
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = first["loc"]
        if first["type"] == "extra_forbidden":
            raise SettingsError(f"unknown setting {_env_name(loc)}") from None
        msg = str(first["msg"]).removeprefix("Value error, ")
        raise SettingsError(f"invalid setting {_env_name(loc)}: {msg}") from None
    except ValueError as exc:  # a TOML file that does not parse
        raise SettingsError(f"cannot read configuration file {path}: {exc}") from None
    finally:
        _TOML_FILE.clear()
