"""A browser-like HTTP client for the desk tests: keeps cookies for 127.0.0.1, sends the
desk's Origin on POSTs, and reads the CSRF token from the page it last saw."""

from __future__ import annotations

import re
from typing import Any

import aiohttp

CSRF = re.compile(r'name="csrf" value="([0-9a-f]+)"')


class Browser:
    """One person's browser."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.session = aiohttp.ClientSession(
            cookie_jar=aiohttp.CookieJar(unsafe=True), headers={"Accept-Language": "en"}
        )
        self.csrf = ""
        self.status = 0
        self.text = ""

    async def close(self) -> None:
        await self.session.close()

    async def get(self, path: str) -> str:
        url = path if path.startswith("http") else self.base + path
        async with self.session.get(url) as r:
            self.status, self.text = r.status, await r.text()
            self.headers = r.headers
        if found := CSRF.search(self.text):
            self.csrf = found.group(1)
        return self.text

    async def post(
        self, path: str, data: Any, *, csrf: bool = True, origin: str | None = None
    ) -> str:
        fields = list(data.items()) if isinstance(data, dict) else list(data)
        if csrf:
            fields.append(("csrf", self.csrf))
        headers = {"Origin": self.base if origin is None else origin}
        async with self.session.post(self.base + path, data=fields, headers=headers) as r:
            self.status, self.text = r.status, await r.text()
        if found := CSRF.search(self.text):
            self.csrf = found.group(1)
        return self.text
