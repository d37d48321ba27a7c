"""Bot API request parameters, typed the way Telegram reads them."""

from __future__ import annotations

import json
from typing import Any

from tests.telegram.botapi_state import JSON, bad_request


class Params:
    """A request's parameters, typed the way the Bot API reads them (form values are strings,
    nested objects are JSON-serialized)."""

    def __init__(self, raw: JSON) -> None:
        self.raw = raw

    def get(self, name: str, default: Any = None) -> Any:
        """The raw value, or `default` when absent or empty."""
        value = self.raw.get(name)
        return default if value is None or value == "" else value

    def required(self, name: str, description: str | None = None) -> Any:
        """The raw value, or 400 "<name> is empty"."""
        value = self.get(name)
        if value is None:
            raise bad_request(description or f"{name} is empty")
        return value

    def int(self, name: str, default: int | None = None) -> int | None:
        """An integer parameter."""
        value = self.get(name)
        if value is None:
            return default
        try:
            return int(value)
        except (TypeError, ValueError):
            raise bad_request(f"invalid {name} specified") from None

    def bool(self, name: str, default: bool = False) -> bool:
        """A boolean parameter ("true"/"false" in forms, true/false in JSON)."""
        value = self.get(name)
        if value is None:
            return default
        if isinstance(value, str):
            return value.lower() in ("true", "1")
        return bool(value)

    def json(self, name: str) -> Any:
        """A JSON-serialized object or array parameter."""
        value = self.get(name)
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                raise bad_request(f"can't parse {name} JSON object") from None
        return value
