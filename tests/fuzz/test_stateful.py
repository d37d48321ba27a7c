"""A stateful fuzz test: many people at once drive the real core (recording platform, SQLite)
with any command, any argument, any button ever shown and the admin's shell, and after every
step the invariants hold:

- no unhandled exception and no traceback in the log; every private command is answered;
- nothing privileged happens that the actor's roles do not allow (the oracle in world.py,
  from the product's roles table): no official message, follow-up, approval, removal, link or
  role change by the wrong person; every refusal of a privileged command is audited;
- every message the bot builds is one Telegram accepts (its own checks: UTF-16 length,
  callback data, empty text);
- no name and no text a person typed reaches the log.

CI runs a fixed, quick budget; `BINBOT_FUZZ_EXAMPLES=20000` runs a long one (random seed,
printed with any failure so that it replays).
"""

from __future__ import annotations

import asyncio
import logging
import os
import shlex
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from adapters.telegram.render import keyboard, render_html
from bot.admin import run_admin
from bot.cli import admin_parser
from bot.events import ButtonPressed, CommandIssued, JoinRequested, MemberLeft, MessagePosted
from bot.model import ChatRef, MessageRef, Outgoing
from bot.ports import PermanentError
from tests.fakes import Harness, RecordingPlatform
from tests.fuzz import world
from tests.fuzz.oracle import COMMAND_ROLES, Step, violations

LONG_RUN = int(os.environ.get("BINBOT_FUZZ_EXAMPLES", "0"))
# A long run takes hours: no per-test timeout then.
pytestmark = pytest.mark.timeout(0 if LONG_RUN else 300)
PROGRESS = os.environ.get("BINBOT_FUZZ_PROGRESS", "")
PARSER = admin_parser()

# -- what people type --------------------------------------------------------------------------

ODD = (
    "\u202e",  # right-to-left override
    "\u200b",  # zero-width space
    "\u200d",
    "\ufeff",
    "🚓",
    "👨‍👩‍👧",
    "é",
    "<b>x</b>",
    "**bold**",
    "[link](https://evil.example)",
    "`code`",
    "&amp;",
    "\n",
    "\t",
    "@everyone",
    "%s %d {0} {ref}",
    "'; DROP TABLE persons; --",
    "\x00",
)
NUMBERS = st.one_of(
    st.integers(-(10**30), 10**30), st.sampled_from([0, -1, 1, 2**31, 2**63, 10**23])
).map(str)
WORDS = st.sampled_from(
    [
        *world.BINS,
        *world.ZONES,
        "Noord",
        "all",
        "yes",
        "no",
        "nl",
        "fr",
        "de",
        "en",
        "xx",
        "A-7K2Q",
    ]
)
SHORT = st.text(st.characters(codec="utf-8"), max_size=30)
LONG = st.builds(
    lambda c, n: c * n, st.sampled_from(["x", "é", "🚓", "\u200b", "a "]), st.integers(500, 5000)
)
PIECE = st.one_of(NUMBERS, WORDS, st.sampled_from(ODD), SHORT)
ARGS = st.one_of(st.just(""), PIECE, st.lists(PIECE, min_size=2, max_size=4).map(" ".join), LONG)
# Typed free text carries a canary: finding it in the log means a text was logged.
CANARY = "Qzvkcanary"


class Telegramish(RecordingPlatform):
    """The recording platform, refusing what Telegram refuses (its adapter's own checks), and
    keeping what it refused so that the invariant can name it."""

    def __init__(self) -> None:
        super().__init__()
        self.refused: list[tuple[str, str]] = []

    def _telegram_checks(self, chat: ChatRef, message: Outgoing) -> None:
        try:
            render_html(message.body)
            keyboard(message.buttons)
        except PermanentError as exc:
            self.refused.append((exc.reason, message.body.plain[:200]))
            raise

    async def send(
        self, chat: ChatRef, message: Outgoing, *, txn_id: str | None = None
    ) -> MessageRef:
        self._telegram_checks(chat, message)
        return await super().send(chat, message, txn_id=txn_id)

    async def edit(self, ref: MessageRef, message: Outgoing) -> None:
        self._telegram_checks(ref.chat, message)
        await super().edit(ref, message)


class Captured(logging.Handler):
    """Every log record of the run, formatted with its traceback."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.failures: list[str] = []
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        line = self.format(record)
        self.lines.append(line)
        if record.levelno >= logging.ERROR or record.exc_info:
            self.failures.append(line)


class People(RuleBasedStateMachine):
    """Residents, members, coordinators of two BINs, police and prevention of two zones, a
    person whose role was revoked, and the admin, all at once."""

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.folder = Path(tempfile.mkdtemp(prefix="binbot-fuzz-"))
        self.template = world.template()
        self.platform = Telegramish()
        self.h: Harness = self.loop.run_until_complete(
            world.open_copy(self.template, self.folder, self.platform)
        )
        self.codes = [world.Code(**vars(c)) for c in self.template.codes]
        self.roles = world.initial_roles()
        self.typed: list[str] = []
        self.log = Captured()
        self.ids = 1000
        self.before = self.run(world.snapshot(self.h))
        if PROGRESS:  # a long run says how far it got, even when it is stopped
            with open(PROGRESS, "a", encoding="utf-8") as out:
                out.write("example\n")

    def run(self, coro):  # type: ignore[no-untyped-def]
        return self.loop.run_until_complete(coro)

    def teardown(self) -> None:
        self.run(self.h.close())
        self.loop.close()

    # -- driving ---------------------------------------------------------------------------

    def _mid(self) -> str:
        self.ids += 1
        return str(self.ids)

    def _event(self, step: Step, event: object) -> None:
        """Hand one event to the core, wait until all it caused is done, check everything."""
        root = logging.getLogger()
        old_level = root.level
        root.setLevel(logging.DEBUG)
        root.addHandler(self.log)
        sent_before = len(self.platform.in_chat(step.actor)) if step.actor else 0
        edits_before = sum(len(s.edits) for s in self.platform.in_chat(step.actor or ""))
        try:
            self.run(self.h.core.handle(event))  # type: ignore[arg-type]
            self.run(self.h.core.idle())
        finally:
            root.removeHandler(self.log)
            root.setLevel(old_level)
        step.answered = (
            len(self.platform.in_chat(step.actor)) > sent_before
            or sum(len(s.edits) for s in self.platform.in_chat(step.actor)) > edits_before
        )
        self._check(step)

    def _check(self, step: Step) -> None:
        assert not self.platform.refused, f"Telegram would refuse: {self.platform.refused}"
        assert not self.log.failures, "\n".join(self.log.failures)
        after = self.run(world.snapshot(self.h))
        audit = self.run(world.audit_since(self.h, self.before.audit_max))
        found = violations(step, self.roles, self.codes, self.before, after, audit)
        assert not found, "\n".join(found)
        self.roles = {g for g in after.grants if not g[0].startswith("#")}
        self.before = after

    def chat(self, name: str, group: str | None) -> ChatRef:
        return self.h.chat(group, name)

    # -- rules -----------------------------------------------------------------------------

    @initialize()
    def start(self) -> None:
        self.h.new("sofieqzx")

    @rule(
        actor=st.sampled_from(world.PEOPLE),
        data=st.data(),
        where=st.sampled_from([None, None, None, *world.GROUPS, world.FREE_GROUP]),
    )
    def command(self, actor: str, data: st.DataObject, where: str | None) -> None:
        """Any command of the registry (or an unknown one), with generated arguments."""
        names = sorted(self.h.core.registry.commands)
        privileged = sorted(COMMAND_ROLES)  # drawn twice as often: they are what matters most
        name = data.draw(
            st.one_of(
                st.sampled_from(names),
                st.sampled_from(privileged),
                st.sampled_from(["nosuch", "ALERT"]),
            )
        )
        args = data.draw(self._args())
        known = name.lower() in self.h.core.registry.commands
        step = Step(
            actor, "command", name=name.lower(), args=args, private=where is None, known=known
        )
        event = CommandIssued(
            self.chat(actor, where), self.h.user(actor), name.lower(), args.strip(), self._mid()
        )
        self._event(step, event)

    def _args(self) -> st.SearchStrategy[str]:
        known = [c.code for c in self.codes] + self.refs() + [str(i) for i in self.requests()]
        if known:
            return st.one_of(
                ARGS, st.sampled_from(known), st.tuples(st.sampled_from(known), ARGS).map(" ".join)
            )
        return ARGS

    def refs(self) -> list[str]:
        return sorted(a[4] for a in self.before.alerts.values())

    def requests(self) -> list[int]:
        return sorted(self.before.decided)

    @rule(actor=st.sampled_from(world.PEOPLE), data=st.data())
    def type_privately(self, actor: str, data: st.DataObject) -> None:
        """Text in a private chat: an answer to whatever conversation is open, or not."""
        text = data.draw(st.one_of(ARGS, st.just("Kerkstraat 12"), WORDS))
        if len(text) > 3 and data.draw(st.booleans()):
            text = f"{text} {CANARY}"
        self.typed.append(text)
        step = Step(actor, "text", private=True)
        self._event(
            step, MessagePosted(self.chat(actor, None), self.h.user(actor), text, self._mid())
        )

    @rule(
        actor=st.sampled_from(world.PEOPLE),
        group=st.sampled_from([*world.GROUPS, world.FREE_GROUP]),
        text=st.one_of(
            st.sampled_from(["Man met kap voelt aan de klinken", "vitre de voiture cassée"]),
            ARGS,
        ).map(lambda t: f"{t} {CANARY}"),
    )
    def chatter(self, actor: str, group: str, text: str) -> None:
        """Group chatter (the 101 nudge reads it, and must never log it)."""
        self.typed.append(text)
        step = Step(actor, "chatter", private=False)
        self._event(
            step, MessagePosted(self.chat(actor, group), self.h.user(actor), text, self._mid())
        )

    @rule(actor=st.sampled_from(world.PEOPLE), data=st.data())
    def press(self, actor: str, data: st.DataObject) -> None:
        """Press any button ever shown to anyone: stale, foreign, of another conversation."""
        shown = [(s.chat, s.ref.message_id, d) for s in self.platform.sent for _, d in s.buttons]
        if not shown:
            return
        chat, message_id, payload = data.draw(st.sampled_from(shown))
        if data.draw(st.booleans()) and payload.startswith("cv:"):
            payload = payload[:-1] + data.draw(st.sampled_from(["x", "9", "", ".", "🚓"]))
        where = None if chat.is_private else chat.chat_id
        step = Step(actor, "press", private=where is None, payload=payload)
        event = ButtonPressed(self.chat(actor, where), self.h.user(actor), payload, message_id)
        self._event(step, event)

    @rule(
        actor=st.sampled_from(world.PEOPLE),
        group=st.sampled_from([*world.GROUPS, world.FREE_GROUP]),
        ask=st.booleans(),
    )
    def join_or_leave(self, actor: str, group: str, ask: bool) -> None:
        """A platform join request, or leaving a group."""
        chat = self.chat(actor, group)
        event = (
            JoinRequested(chat, self.h.user(actor))
            if ask
            else MemberLeft(chat, self.h.user(actor))
        )
        self._event(Step(actor, "join" if ask else "leave", private=False), event)

    @rule(
        actor=st.sampled_from(world.PEOPLE),
        data=st.data(),
        how=st.sampled_from(["redeem", "start"]),
    )
    def redeem(self, actor: str, data: st.DataObject, how: str) -> None:
        """Redeem a random, used, revoked, exposed or valid code."""
        usable = list(self.codes)
        code = data.draw(st.one_of(st.sampled_from(usable).map(lambda c: c.code), SHORT, NUMBERS))
        code = data.draw(st.sampled_from([code, code.lower(), f" {code} ", code.replace("-", "")]))
        step = Step(actor, "command", name=how, args=code, private=True)
        self._event(
            step,
            CommandIssued(
                self.chat(actor, None), self.h.user(actor), how, code.strip(), self._mid()
            ),
        )

    @rule(data=st.data())
    def admin(self, data: st.DataObject) -> None:
        """The admin's shell, with generated arguments."""
        scope = st.one_of(st.sampled_from([*world.ZONES, *world.BINS]), SHORT)
        line = data.draw(
            st.one_of(
                st.tuples(
                    st.sampled_from(["police", "prevention"]), st.sampled_from(world.ZONES)
                ).map(lambda t: f"invite {t[0]} --zone {t[1]}"),
                st.sampled_from(list(world.BINS)).map(lambda b: f"invite coordinator --bin {b}"),
                st.tuples(st.sampled_from(["invite", "role"]), st.integers(-3, 40)).map(
                    lambda t: f"revoke {t[0]} {t[1]}"
                ),
                st.sampled_from(
                    ["invite list", "role list", "zone list", "bin list", "audit --limit 5"]
                ),
                st.tuples(
                    st.sampled_from(
                        ["invite police --zone", "invite coordinator --bin", "role list --zone"]
                    ),
                    scope,
                ).map(lambda t: f"{t[0]} {shlex.quote(t[1])}"),
            )
        )
        step = Step("", "admin", args=line)
        before_codes = self.h.code
        try:
            self.run(self._admin(line))
        except SystemExit:
            pass  # argparse refused the line with a usage message, as the shell does
        if line.startswith("invite ") and self.h.code != before_codes and "list" not in line:
            role, _, scope = line.removeprefix("invite ").partition(" ")
            scope = shlex.split(scope)[1]
            last = self.run(self._last_invite())
            self.codes.append(world.Code(self.h.code, role, scope, last))
        if line.startswith("revoke invite"):
            number = int(line.split()[-1])
            for c in self.codes:
                if c.invite_id == number and c.state == "valid":
                    c.state = "revoked"
        self._check(step)

    async def _admin(self, line: str) -> None:
        """`binbot LINE`, as Harness.admin runs it, with the parser built once."""
        out: list[str] = []
        args = PARSER.parse_args(shlex.split(line))
        code = await run_admin(args, self.h.db, out.append, self.h.clock, self.h.core.rng)
        if line.startswith("invite") and code == 0 and out:
            self.h.code = out[-1]

    async def _last_invite(self) -> int:
        from sqlalchemy import select

        from storage.tables import Invite

        async with self.h.db.session() as s:
            return int(
                (await s.execute(select(Invite.id).order_by(Invite.id.desc()))).scalar() or 0
            )

    @rule(minutes=st.sampled_from([1, 16, 60, 60 * 24, 60 * 24 * 8]))
    def time_passes(self, minutes: int) -> None:
        """Time passes and the periodic jobs run (timeouts, expiry, reminders, the outbox)."""
        self.h.clock.advance(minutes=minutes)
        root = logging.getLogger()
        root.addHandler(self.log)
        try:
            for job in self.h.core.registry.jobs:
                self.run(job.fn(self.h.core))
            self.run(self.h.core.idle())
        finally:
            root.removeHandler(self.log)
        for c in self.codes:
            if c.state == "valid" and minutes >= 60 * 24 * 8:
                c.state = "expired"
        self._check(Step("", "time"))

    # -- invariants --------------------------------------------------------------------------

    @invariant()
    def no_personal_data_in_the_log(self) -> None:
        """Neither a display name nor a typed text (its canary) is ever logged."""
        text = "\n".join(self.log.lines)
        assert CANARY not in text, "a typed text reached the log"
        for name in world.PEOPLE:
            assert name.capitalize() not in text, f"the name of {name} reached the log"


People.TestCase.settings = settings(
    max_examples=LONG_RUN or 40,
    stateful_step_count=30 if LONG_RUN else 25,
    deadline=None,
    derandomize=not LONG_RUN,
    database=None,
    print_blob=True,
    suppress_health_check=list(HealthCheck),
)
TestPeople = People.TestCase
