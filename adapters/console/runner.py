"""Drive the console platform from a stream of lines (a terminal, a pipe or a scenario file).

Each line is handled completely (including the work it starts) before the next is read, so
a replayed scenario prints the same transcript every time. `$ ...` lines are admin commands.
`{code}` in a line stands for the last invite code an admin line printed, `{ref}` for the
last official reference the bot wrote.
"""

from __future__ import annotations

import asyncio
import re
import shlex
import sys
from collections.abc import Awaitable, Callable
from typing import TextIO

from adapters.console.platform import ConsolePlatform
from bot.events import Event

REF = re.compile(r"\b[A-Z]-[0-9A-Z]{4}\b")
CODE = re.compile(r"^[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}$")

Handle = Callable[[Event], Awaitable[None]]
Admin = Callable[[list[str]], Awaitable[int]]
Idle = Callable[[], Awaitable[None]]


class ConsoleSession:
    """Feeds input lines to the core and remembers `{code}` and `{ref}`."""

    def __init__(
        self,
        platform: ConsolePlatform,
        handle: Handle,
        admin: Admin,
        idle: Idle,
        out: Callable[[str], None],
        *,
        echo: bool = False,
    ) -> None:
        self.echo = echo
        self.platform = platform
        self.handle = handle
        self.admin = admin
        self.idle = idle
        self.out = out
        self.vars: dict[str, str] = {}

    def seen(self, line: str) -> None:
        """Watch every printed line for codes and references."""
        if CODE.match(line.strip()):
            self.vars["code"] = line.strip()
        refs = REF.findall(line)
        if refs and line.startswith("bot"):
            self.vars["ref"] = refs[-1]

    def substitute(self, line: str) -> str:
        return re.sub(r"\{(code|ref)\}", lambda m: self.vars.get(m[1], m[0]), line)

    async def feed(self, raw: str) -> None:
        """Handle one input line."""
        line = self.substitute(raw.rstrip("\n"))
        if not line.strip():
            return
        if self.echo:
            self.out(f"> {line}")
        if line.lstrip().startswith("#"):
            return
        if line.startswith("$"):
            try:
                argv = shlex.split(line[1:])
            except ValueError as exc:
                self.out(f"error: {exc}")
                return
            if argv:
                await self.admin(argv)
            return
        parsed = self.platform.parse(line)
        if isinstance(parsed, str):
            self.out(f"console: {parsed}")
            return
        for event in parsed:
            await self.handle(event)
        await self.idle()


async def read_lines(stream: TextIO, feed: Callable[[str], Awaitable[None]], prompt: bool) -> None:
    """Read `stream` line by line without blocking the event loop, feeding each line."""
    loop = asyncio.get_running_loop()
    while True:
        if prompt:
            print("> ", end="", flush=True)
        line = await loop.run_in_executor(None, stream.readline)
        if not line:
            return
        await feed(line)


def interactive(stream: TextIO = sys.stdin) -> bool:
    return stream.isatty()
