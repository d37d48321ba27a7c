"""Several real `binbot run` processes in Telegram webhook mode on one database, behind a
round-robin proxy, in front of the fake Bot API; and the people acting in that world.

    async with Fleet.running(database_url, tmp_path, ["web1", "web2"]) as f:
        jan = f.api.add_user("Jan")
        [out] = await f.binbot("invite police --zone Beringen")
        code = out[-1]  # an invite's code is alone on its last line
        f.act(lambda: f.api.user_writes(jan, f"/start {code}"))
        await f.shown(jan, "Gelukt")

Each process is the real composition root (`bot.app.serve`) started as `binbot run` would be,
with its own webhook port, health port and base URL on the fake server (so that every Bot API
call says which process made it: `ApiCall.caller`). The webhook answers as soon as an update
is queued, so a test waits for what a person would see before they act again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shlex
import signal
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from tests.ops.round_robin import RoundRobinProxy
from tests.ops.test_processes import ROOT, SERVE, Process, free_port
from tests.telegram.botapi import FakeBotApi
from tests.telegram.botapi_state import FakeChat, FakeMessage, FakeUser

HOOK_PATH = "/telegram"

# `binbot LINE` for several lines in one interpreter (each is `bot.cli.main`, as the command
# runs it); a record separator ends each command's output, followed by its exit code.
ADMIN = """
import json, sys
from bot.cli import main
for argv in json.loads(sys.argv[1]):
    code = main(argv)
    print("\\x1e", code, flush=True)
"""

Where = FakeChat | FakeUser  # a user stands for the private chat with them


class Fleet:
    """The fake Bot API, the proxy and the processes, started and stopped as one."""

    def __init__(self, api: FakeBotApi, database_url: str, tmp_path: Path, names: list[str]):
        self.api = api
        self.database_url = database_url
        self.tmp_path = tmp_path
        self.names = names
        self.hook_ports = {name: free_port() for name in names}
        self.proxy = RoundRobinProxy(self.hook_ports)
        self.procs: dict[str, Process] = {}

    @classmethod
    @contextlib.asynccontextmanager
    async def running(
        cls, database_url: str, tmp_path: Path, names: list[str]
    ) -> AsyncIterator[Fleet]:
        """The server and proxy first, then the database at head, then every process."""
        async with FakeBotApi() as api:
            # People here act at machine speed; Telegram's limits are not what is tested.
            api.flood.limits.enabled = False
            fleet = cls(api, database_url, tmp_path, names)
            await fleet.proxy.start()
            try:
                await fleet.binbot("db upgrade")  # once, before the fleet, as in production
                started = await asyncio.gather(*(fleet._start(name) for name in names))
                fleet.procs = dict(zip(names, started, strict=True))
                await fleet._all_healthy(within=45)
                yield fleet
            finally:
                await fleet._stop()
                await fleet.proxy.stop()

    def _env(self, name: str) -> dict[str, str]:
        """The environment of `binbot` commands: the database, and no settings of the caller."""
        own = {k: v for k, v in os.environ.items() if not k.startswith("BINBOT_")}
        return own | {
            "BINBOT_DATABASE_URL": self.database_url,
            "BINBOT_PROCESS_NAME": name,
            "BINBOT_DATA_DIR": str(self.tmp_path / name),
        }

    def _run_env(self, name: str) -> dict[str, str]:
        """The environment of process `name`: webhook mode behind the proxy."""
        return self._env(name) | {
            "BINBOT_LOG_JSON": "true",
            "BINBOT_HTTP__PORT": str(free_port()),
            "BINBOT_DELIVERY__POLL_INTERVAL": "0.2",
            "BINBOT_TELEGRAM__TOKEN": self.api.token,
            "BINBOT_TELEGRAM__BASE_URL": self.api.base_url_for(name),
            "BINBOT_TELEGRAM__WEBHOOK_URL": self.proxy.url(HOOK_PATH),
            "BINBOT_TELEGRAM__WEBHOOK_LISTEN": "127.0.0.1",
            "BINBOT_TELEGRAM__WEBHOOK_PORT": str(self.hook_ports[name]),
        }

    async def _start(self, name: str) -> Process:
        env = self._run_env(name)
        path = self.tmp_path / f"{name}.log"
        with path.open("wb") as log:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-c", SERVE, cwd=ROOT, env=env, stdout=log, stderr=log
            )
        return Process(name, proc, int(env["BINBOT_HTTP__PORT"]), path)

    async def _all_healthy(self, within: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            reports = [await p.health() for p in self.procs.values()]
            if all(r is not None and r["status"] == "ok" for r in reports):
                return
            dead = [p.name for p in self.procs.values() if p.proc.returncode is not None]
            if dead or loop.time() > deadline:
                raise AssertionError(
                    f"processes not healthy (exited: {dead}): {reports}\n{self.log_tail()}"
                )
            await asyncio.sleep(0.2)

    async def _stop(self) -> None:
        """SIGTERM, as systemd stops them; SIGKILL whatever is still running after 15 s."""
        for p in self.procs.values():
            if p.proc.returncode is None:
                p.proc.send_signal(signal.SIGTERM)
        for p in self.procs.values():
            try:
                await asyncio.wait_for(p.proc.wait(), 15)
            except TimeoutError:
                p.proc.kill()
                await p.proc.wait()

    # -- the admin's shell -----------------------------------------------------------------

    async def binbot(self, *lines: str) -> list[list[str]]:
        """Run `binbot LINE` for each line, in order, against the fleet's database; the output
        lines of each. Every command must succeed (exit code 0)."""
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            ADMIN,
            json.dumps([shlex.split(line) for line in lines]),
            cwd=ROOT,
            env=self._env("admin"),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        outputs, codes = [], []
        rest, *blocks = out.decode().split("\x1e")
        for block in blocks:
            outputs.append(rest.splitlines())
            code, _, rest = block.partition("\n")
            codes.append(code.strip())
        assert proc.returncode == 0 and codes == ["0"] * len(lines), (
            f"binbot {lines}: exit codes {codes}\n{out.decode()}\n{err.decode()}"
        )
        return outputs

    # -- people acting ---------------------------------------------------------------------

    def act(self, action: Callable[[], object]) -> int:
        """Let a person do one thing; returns the id of the (first) update it causes."""
        update_id = self.api.updates.next_update_id
        action()
        assert self.api.updates.next_update_id > update_id, "the bot hears nothing of it"
        return update_id

    async def next_update_to(self, name: str) -> None:
        """Make the next update a person causes go to process `name`.

        Waits until updates already queued (service messages the bot's own actions cause,
        such as a pin or someone let in) have been forwarded, as they pass the proxy too."""
        await self.until(lambda: not self.api.updates.pending, "queued updates to be forwarded")
        self.proxy.next_to(name)

    async def other_process_after(self, update_id: int) -> None:
        """Make the next update go to another process than the one that took `update_id`
        (the proxy alternates by itself, but the bot's own service messages take turns too)."""
        await self.until(lambda: update_id in self.proxy.routes, f"update {update_id} forwarded")
        took = self.proxy.routes[update_id]
        await self.next_update_to(self.names[(self.names.index(took) + 1) % len(self.names)])

    def say(self, user: FakeUser, text: str, chat: FakeChat | None = None) -> int:
        """`user` writes `text` to the bot in private (or in `chat`); the update's id."""
        return self.act(lambda: self.api.user_writes(user, text, chat))

    def press(self, user: FakeUser, message: FakeMessage, label: str) -> int:
        """`user` taps the button `label` under `message`; the update's id."""
        [data] = [d for row in message.buttons for text, d in row if text == label]
        return self.act(lambda: self.api.press_button(user, message, data))

    # -- what people see -------------------------------------------------------------------

    def chat(self, where: Where) -> FakeChat:
        """The chat itself: a group, or the private chat with a user."""
        return self.api.private_chat(where) if isinstance(where, FakeUser) else where

    def find(self, where: Where, text: str, button: str | None = None) -> FakeMessage | None:
        """The bot's newest live message in `where` containing `text` (and button `button`)."""
        for message in reversed(self.api.bot_messages(self.chat(where))):
            labels = [label for row in message.buttons for label, _ in row]
            if text in message.text and (button is None or button in labels):
                return message
        return None

    async def shown(
        self, where: Where, text: str, button: str | None = None, within: float = 30.0
    ) -> FakeMessage:
        """Wait until the bot shows a message containing `text` (with button `button`)."""
        await self.until(
            lambda: self.find(where, text, button) is not None,
            f"{text!r} (button {button!r}) in chat {self.chat(where).id}",
            within,
        )
        found = self.find(where, text, button)
        assert found is not None
        return found

    async def until(self, check: Callable[[], object], what: str, within: float = 30.0) -> None:
        """Wait until `check()` holds; if it does not in time, fail saying what people saw."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while not check():
            if loop.time() > deadline:
                raise AssertionError(f"waited {within}s for {what}\n{self.report()}")
            await asyncio.sleep(0.02)

    def report(self) -> str:
        """What the bot wrote in every chat, where each update went, the processes' errors."""
        lines = ["what the bot wrote:"]
        for chat in self.api.chats.values():
            for m in self.api.bot_messages(chat):
                text = m.text.replace("\n", " ⏎ ")[:160]
                lines.append(f"  {chat.title or chat.id}: {text} {m.buttons or ''}")
        lines.append(f"routes: {self.proxy.routes}")
        lines.append(self.log_tail())
        return "\n".join(lines)

    def log_tail(self, n: int = 12) -> str:
        """The processes' last warnings and errors."""
        lines = []
        for p in self.procs.values():
            try:
                raw = p.log.read_text(encoding="utf-8").splitlines()
            except OSError:
                continue
            for line in raw:
                try:
                    event = json.loads(line)
                except ValueError:
                    event = {"level": "RAW", "event": line}
                if str(event.get("level")).lower() not in ("info", "debug"):
                    lines.append(f"  {p.name}: {event.get('event')} {event.get('error', '')}")
        return "process warnings and errors:\n" + "\n".join(lines[-n * len(self.procs) :])
