"""The retention rules, one by one, on the fake clock: what each keeps, and when it goes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.services import retention
from bot.services.retention import LAST_RUN
from storage.tables import (
    Alert,
    AuditEntry,
    ConversationRow,
    Delivery,
    Group,
    Identity,
    Invite,
    JoinRequest,
    Membership,
    MonthlyFigure,
    Person,
    Reminder,
    RequestCopy,
    RoleGrant,
)
from tests.fakes import Harness
from tests.unit.test_alerts_world import compose, make_world, official
from tests.unit.test_groups_support import audit, member, ready, rows


async def run(h: Harness, **advance: float) -> retention.Report:
    h.clock.advance(**advance)
    return await retention.run(h.core)


async def person_id(h: Harness, name: str) -> int:
    [ident] = await rows(h, Identity, Identity.user_id == name)
    return int(ident.person_id)


async def figures(h: Harness, figure: str) -> dict[tuple[str, str], int]:
    found = await rows(h, MonthlyFigure, MonthlyFigure.figure == figure)
    return {(f.month, f.detail): f.value for f in found}


async def test_a_decided_request_loses_its_answers_at_once_and_its_row_after_a_month(
    h: Harness,
) -> None:
    await ready(h)
    await member(h, "jan")  # answers "Kerkstraat", approved by An
    [req] = await rows(h, JoinRequest)
    assert req.status == "approved" and req.answers is None
    await run(h, days=29)
    assert len(await rows(h, JoinRequest)) == 1
    await run(h, days=11)  # 40 days after, and January's figures are final
    assert await rows(h, JoinRequest) == []
    assert await figures(h, "requests") == {("2026-01", "approved"): 1}
    assert await rows(h, Membership)  # the membership itself stays while active


async def test_a_left_membership_goes_after_ninety_days_and_the_silent_person_later(
    h: Harness,
) -> None:
    await ready(h)
    await member(h, "jan")
    jan = await person_id(h, "jan")
    await h.say("jan", "/leave noord")
    await run(h, days=89)
    assert len(await rows(h, Membership)) == 1
    await run(h, days=2)
    assert await rows(h, Membership) == []
    assert await figures(h, "left") == {("2026-01", "left"): 1}
    assert await rows(h, Person, Person.id == jan)  # silent for 91 days: not yet
    await run(h, days=90)  # 181 days after the last contact
    assert await rows(h, Person, Person.id == jan) == []
    assert await rows(h, Identity, Identity.person_id == jan) == []


async def test_someone_who_only_asked_for_help_is_erased_after_half_a_year(h: Harness) -> None:
    await ready(h)
    await h.say("lars", "/help")
    lars = await person_id(h, "lars")
    await run(h, days=100)
    await h.say("lars", "/numbers")  # a contact moves the clock of the rule
    await run(h, days=179)
    assert await rows(h, Person, Person.id == lars)
    await run(h, days=2)
    assert await rows(h, Person, Person.id == lars) == []
    an = await person_id(h, "an")
    assert await rows(h, Person, Person.id == an)  # a coordinator keeps her role: kept


async def test_the_last_contact_is_a_day_written_at_most_once_a_day(h: Harness) -> None:
    await ready(h)
    await h.say("lars", "/help")
    lars = await person_id(h, "lars")
    [p] = await rows(h, Person, Person.id == lars)
    assert p.last_seen_at == h.clock.now().replace(hour=0, minute=0)
    writes: list[str] = []

    def count(conn: object, cursor: object, statement: str, *args: object) -> None:
        if statement.startswith("UPDATE persons"):
            writes.append(statement)

    from sqlalchemy import event

    event.listen(h.db.engine.sync_engine, "before_cursor_execute", count)
    for _ in range(3):
        h.clock.advance(hours=3)
        await h.say("lars", "/numbers")
    assert writes == []  # the same day: nothing written
    h.clock.advance(days=1)
    await h.say("lars", "/numbers")
    assert len(writes) == 1
    event.remove(h.db.engine.sync_engine, "before_cursor_execute", count)


async def test_revoked_roles_and_used_invites_go_after_their_periods(h: Harness) -> None:
    await ready(h)  # An redeemed a coordinator invite
    await h.admin("invite police --zone Beringen")  # never used: expires after 7 days
    assert await h.admin("revoke role 1") == ["role coordinator (grant 1) revoked"]
    await run(h, days=25)
    assert len(await rows(h, Invite)) == 2
    await run(h, days=6)  # the used one: 31 days after its use
    [unused] = await rows(h, Invite)
    assert unused.used_at is None
    [grant] = await rows(h, RoleGrant)
    assert grant.invite_id is None
    await run(h, days=7)  # the unused one: 31 days after it expired
    assert await rows(h, Invite) == []
    await run(h, days=53)  # 91 days after the revocation
    assert await rows(h, RoleGrant) == []


async def test_deliveries_become_counts_and_the_message_stays(h: Harness) -> None:
    await make_world(h)
    await official(h, "jan")
    ref = await compose(h, "jan")
    sent = await rows(h, Delivery)
    assert len(sent) == 2
    await run(h, days=89)
    assert len(await rows(h, Delivery)) == 2
    await run(h, days=2)
    assert await rows(h, Delivery) == []
    assert await figures(h, "deliveries") == {("2026-01", "telegram/sent"): 2}
    assert await figures(h, "alerts") == {("2026-01", "urgent/suspicious_vehicle"): 1}
    [alert] = await rows(h, Alert, Alert.ref == ref)
    assert alert.receipt_chat_id is None and alert.text.startswith("A grey van")
    await h.say("lars", f"/check {ref}")
    assert f"{ref} is een echt officieel bericht" in h.last("lars")  # the public record


async def test_an_unlinked_group_goes_a_year_after_once_no_delivery_names_it(
    h: Harness,
) -> None:
    await ready(h)
    await h.say("an", "/unlink", chat="buurt")
    [group] = await rows(h, Group)
    assert group.active is False
    async with h.core.uow() as uow:
        await uow.groups.claim_reminder(group.id, "7d-1", h.clock.now())
        await uow.commit()
    await run(h, days=364)
    assert await rows(h, Group) and await rows(h, Reminder) == []  # reminders: 90 days
    await run(h, days=2)
    assert await rows(h, Group) == []


async def test_the_audit_log_is_kept_a_year_and_each_run_is_audited(h: Harness) -> None:
    await ready(h)
    first = len(await audit(h))
    report = await run(h, days=1)
    [entry] = await audit(h, "retention.run")
    assert entry.actor == "system" and entry.detail is not None
    assert set(entry.detail["deleted"]) >= {"persons", "seen", "audit_log", "conversations"}
    assert report.deleted["audit_log"] == 0
    report = await run(h, days=365)
    assert report.deleted["audit_log"] == first  # all but the run of a day later
    assert {e.action for e in await audit(h)} == {"retention.run"}


async def test_conversations_and_request_copies_left_behind_are_cleaned(h: Harness) -> None:
    await ready(h)
    await member(h, "jan")
    [req] = await rows(h, JoinRequest)
    async with h.core.uow() as uow:  # a copy a crash left behind after the decision
        await uow.groups.add_copy(req.id, "telegram", "an", "999", "nl")
        await uow.commit()
    await h.say("jan", "/forgetme")  # a conversation, never answered
    assert await rows(h, ConversationRow)
    await run(h, days=2)  # the sweep job did not run: the retention run is the net
    assert await rows(h, ConversationRow) == []
    assert await rows(h, RequestCopy) == []


async def test_figures_outlive_their_rows_and_expire_after_five_years(h: Harness) -> None:
    await make_world(h)
    await official(h, "jan")
    await compose(h, "jan")
    await h.press("piet", "Seen", chat="noord-1")
    for _ in range(14):  # a run a month for over a year
        await run(h, days=30)
    assert await rows(h, Delivery) == []
    assert await figures(h, "seen") == {("2026-01", ""): 1}
    assert (await figures(h, "deliveries"))[("2026-01", "telegram/sent")] == 2
    await run(h, days=5 * 366)
    assert await rows(h, MonthlyFigure, MonthlyFigure.month == "2026-01") == []


async def test_a_second_run_the_same_day_finds_nothing_and_the_job_runs_once_a_day(
    h: Harness,
) -> None:
    await ready(h)
    await member(h, "jan")
    h.clock.advance(days=45)
    await retention.daily(h.core)
    await retention.daily(h.core)  # the same day: not run again
    assert len(await audit(h, "retention.run")) == 1
    again = await retention.run(h.core)
    assert again.total == 0
    h.clock.advance(days=1)
    await retention.daily(h.core)
    assert len(await audit(h, "retention.run")) == 3
    async with h.core.uow() as uow:
        assert await uow.state.get(LAST_RUN) == h.clock.now().date().isoformat()


async def test_a_run_cut_short_loses_nothing_and_the_next_goes_on(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    await ready(h)
    for n in range(5):
        await h.admin(f"zone add Zone{n}")
    before = len(await audit(h))
    h.clock.advance(days=400)
    from storage import retention as rules

    monkeypatch.setattr(rules, "STEPS", tuple(s for s in rules.STEPS))
    audit_step = next(s for s in rules.STEPS if s.name == "audit_log")
    small = type(audit_step)(**{**audit_step.__dict__, "window": 2})
    steps = tuple(small if s is audit_step else s for s in rules.STEPS)
    monkeypatch.setattr(rules, "STEPS", steps)
    monkeypatch.setattr(retention, "STEPS", steps)
    calls = 0
    real = rules.RetentionRepo.purge_window

    async def crash_on_the_third_window(self, step, when, low, high):  # type: ignore[no-untyped-def]
        nonlocal calls
        if step == "audit_log":
            calls += 1
            if calls == 3:
                raise ConnectionError("the database went away")
        return await real(self, step, when, low, high)

    monkeypatch.setattr(rules.RetentionRepo, "purge_window", crash_on_the_third_window)
    with pytest.raises(ConnectionError):
        await retention.run(h.core)
    async with h.db.session() as s:
        left = len((await s.execute(select(AuditEntry))).scalars().all())
    assert 0 < left < before  # two windows committed, the rest still there
    report = await retention.run(h.core)
    assert report.deleted["audit_log"] == left
    assert [e.action for e in await audit(h)] == ["retention.run"]


async def test_the_retention_job_is_on_the_scheduler(h: Harness) -> None:
    names = {j.name: j.seconds for j in h.core.registry.jobs}
    assert names["retention.daily"] <= 3600 and names["retention.seen"] <= 300
    assert timedelta(seconds=names["retention.daily"]) < timedelta(days=1)
