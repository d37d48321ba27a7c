"""BINs on the desk: police and prevention of a zone create, edit, archive and un-archive its
BINs and set the zone's quiet hours, reminder frequency and language, which each BIN follows
unless it has its own (left empty on its form: as the zone); a BIN's page shows its settings,
groups, members and the bot's rights there.

The rules are those of `binbot bin add` and `binbot apply` (bot/services/validation.py:
BinSpec, ZoneSpec; bot/services/directory.py: codes and names taken, codes that stay). Each
problem is given back as a catalogue key for the field it concerns, so that the page can say
it next to the field in the person's language. Every action and every refusal is audited.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from bot.services import alert_render as render
from bot.services import bin_settings, directory, validation
from bot.services.audience import rights_text
from bot.services.desk import Viewer, may_see_bin
from bot.services.desk_views import rights_fix
from bot.services.directory import DirectoryError, Taken
from bot.services.validation import BinSpec, InvalidInput, ZoneSpec
from storage.group_rights import parse

if TYPE_CHECKING:
    from bot.dispatch import Core
    from storage.tables import Bin, Zone
    from storage.uow import UnitOfWork

INTAKE_MODES = ("default", "own", "none")
STATES = ("active", "archived", "all")


def may_manage(who: Viewer, zone_id: int) -> bool:
    """Police and prevention of a zone create, edit and archive its BINs and set its
    settings; coordinators do not (they see their own BIN's page)."""
    return zone_id in who.zones


def hhmm(minutes: int) -> str:
    """Minutes after midnight as `22:00`."""
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@dataclass(frozen=True)
class Problem:
    """What is wrong with one field of a form: a catalogue key and what fills it."""

    where: str
    key: str
    values: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BinForm:
    """What a BIN form sent (untrusted): intake questions one per line; quiet hours, reminder
    days and language empty to follow the zone."""

    zone_id: int = 0
    name: str = ""
    code: str = ""
    area: str = ""
    intake_mode: str = "default"
    intake: str = ""
    quiet_start: str = ""
    quiet_end: str = ""
    reminder_days: str = ""
    language: str = ""

    @classmethod
    def of(cls, b: Bin) -> BinForm:
        """The form filled with a BIN as it is."""
        mode = "default" if b.intake is None else "own" if b.intake else "none"
        quiet = b.quiet_start is not None and b.quiet_end is not None
        return cls(
            b.zone_id,
            b.name,
            b.code,
            b.area or "",
            mode,
            "\n".join(b.intake or []),
            hhmm(b.quiet_start) if quiet and b.quiet_start is not None else "",
            hhmm(b.quiet_end) if quiet and b.quiet_end is not None else "",
            str(b.reminder_days) if b.reminder_days is not None else "",
            b.language or "",
        )

    def questions(self) -> list[str] | None:
        """The intake as BinSpec takes it: None the standard question, [] none."""
        if self.intake_mode == "default":
            return None
        if self.intake_mode == "none":
            return []
        return [line for line in self.intake.splitlines() if line.strip()]


_FIELD_PROBLEMS = {
    "name": Problem("name", "bins.error_name", {"longest": validation.NAME_LENGTH}),
    "code": Problem("code", "bins.error_code"),
    "area": Problem("area", "bins.error_area", {"longest": validation.AREA_LENGTH}),
    "quiet_hours": Problem("quiet", "bins.error_quiet_own"),
    "reminder_days": Problem("reminder_days", "bins.error_reminder_days"),
    "language": Problem("language", "bins.error_language"),
}
# What the form's hints say, from the same constants as the rules.
LIMITS = {
    "questions": validation.QUESTIONS,
    "question_length": validation.QUESTION_LENGTH,
}


def check(form: BinForm, *, new: bool) -> BinSpec | list[Problem]:
    """The form as a BinSpec (the CLI's and `apply`'s model), or its problems per field."""
    problems: list[Problem] = []
    if form.intake_mode not in INTAKE_MODES:
        problems.append(Problem("intake", "bins.error_intake_mode"))
    questions = form.questions() if form.intake_mode in INTAKE_MODES else None
    if form.intake_mode == "own" and not questions:
        problems.append(Problem("intake", "bins.error_intake_empty"))
    values: dict[str, Any] = {"name": form.name, "intake": questions}
    if form.area.strip():
        values["area"] = form.area
    if form.code.strip() or not new:
        values["code"] = form.code
    # The BIN's own settings, by the rules of `bin add` and `apply`; empty: as the zone.
    if form.quiet_start.strip() or form.quiet_end.strip():
        values["quiet_hours"] = f"{form.quiet_start.strip()}-{form.quiet_end.strip()}"
    if form.reminder_days.strip():
        try:
            values["reminder_days"] = validation.reminder_days(form.reminder_days)
        except InvalidInput:
            problems.append(_FIELD_PROBLEMS["reminder_days"])
    if form.language:
        values["language"] = form.language
    try:
        spec = BinSpec.model_validate(values)
    except ValidationError as exc:
        for e in exc.errors():
            where = str(e["loc"][0]) if e["loc"] else "name"
            if where == "intake":
                problems.append(_intake_problem(questions or []))
            else:
                problems.append(_FIELD_PROBLEMS.get(where, _FIELD_PROBLEMS["name"]))
        return problems
    return problems or spec


def _intake_problem(questions: list[str]) -> Problem:
    """Which rule of the intake questions was broken, and by which question."""
    if len(questions) > validation.QUESTIONS:
        return Problem("intake", "bins.error_intake_many", {"count": validation.QUESTIONS})
    for number, question in enumerate(questions, 1):
        try:
            validation.clean_text(question, "", validation.QUESTION_LENGTH)
        except InvalidInput:
            values = {"n": number, "longest": validation.QUESTION_LENGTH}
            return Problem("intake", "bins.error_intake_question", values)
    return Problem("intake", "bins.error_intake_mode")


def _taken(exc: Taken, code: str) -> Problem:
    if exc.what == "name":
        return Problem("name", "bins.error_name_taken")
    if exc.what == "fixed":
        return Problem("code", "bins.error_code_fixed")
    return Problem("code", "bins.error_code_taken", {"code": code})


# -- the list --------------------------------------------------------------------------------


@dataclass(frozen=True)
class BinRow:
    """One BIN on the list."""

    bin: Bin
    groups: dict[str, int]
    members: int


@dataclass(frozen=True)
class ZoneBins:
    """A zone on the list: its settings and its BINs in the state asked for."""

    zone: Zone
    quiet: str
    bins: list[BinRow]
    archived: int


async def bin_list(core: Core, who: Viewer, state: str) -> list[ZoneBins] | None:
    """The BINs of this person's zones (active, archived or all); None for anyone who is
    not police or prevention (the caller audits)."""
    if not who.official:
        return None
    found = []
    async with core.uow() as uow:
        for zone_id in sorted(who.zones):
            zone = await uow.directory.zone(zone_id)
            if zone is None:
                continue
            bins = list(await uow.directory.bins(zone.id))
            ids = [b.id for b in bins]
            per_platform = await uow.desk.groups_per_platform(ids)
            members = await uow.desk.member_counts(ids)
            rows = [
                BinRow(b, {p: n for i, p, n in per_platform if i == b.id}, members.get(b.id, 0))
                for b in bins
                if state == "all" or (b.archived_at is not None) == (state == "archived")
            ]
            archived = sum(1 for b in bins if b.archived_at is not None)
            quiet = f"{hhmm(zone.quiet_start)}–{hhmm(zone.quiet_end)}"
            found.append(ZoneBins(zone, quiet, rows, archived))
    return found


# -- create, edit, archive -------------------------------------------------------------------


async def _refused(uow: UnitOfWork, core: Core, who: Viewer, action: str, **detail: Any) -> None:
    await uow.audit.record(
        core.clock.now(), who.pseudonym, action, outcome="refused", reason="role", **detail
    )
    await uow.commit()


async def create(core: Core, who: Viewer, form: BinForm) -> int | list[Problem] | None:
    """Create a BIN from the form: its id, the problems (nothing saved), or None when this
    person may not create BINs in that zone (refused and audited)."""
    async with core.uow() as uow:
        zone = await uow.directory.zone(form.zone_id) if form.zone_id in who.zones else None
        if zone is None or not may_manage(who, zone.id):
            await _refused(uow, core, who, "bin.add", zone_id=form.zone_id)
            return None
        spec = check(form, new=True)
        if isinstance(spec, list):
            return spec
        try:
            b = await directory.add_bin(uow, core.clock.now(), zone.name, spec, who.pseudonym)
        except Taken as exc:
            return [_taken(exc, spec.code or directory.slug(spec.name))]
        await uow.commit()
        return b.id


async def managed_bin(core: Core, who: Viewer, bin_id: int, action: str) -> Bin | None:
    """A BIN this person may edit; else None, the refusal audited."""
    async with core.uow() as uow:
        b = await uow.directory.bin(bin_id)
        if b is not None and may_manage(who, b.zone_id):
            return b
        await _refused(uow, core, who, action, bin_id=bin_id)
        return None


async def edit(core: Core, who: Viewer, bin_id: int, form: BinForm) -> bool | list[Problem] | None:
    """Change a BIN's name, area and intake (its code stays): whether anything changed, the
    problems (nothing saved), or None when refused (audited)."""
    async with core.uow() as uow:
        b = await uow.directory.bin(bin_id)
        if b is None or not may_manage(who, b.zone_id):
            await _refused(uow, core, who, "bin.update", bin_id=bin_id)
            return None
        spec = check(form, new=False)
        if isinstance(spec, list):
            return spec
        try:
            changed = await directory.edit_bin(uow, core.clock.now(), b, spec, who.pseudonym)
        except Taken as exc:
            return [_taken(exc, form.code)]
        await uow.commit()
        return changed


async def archive(core: Core, who: Viewer, bin_id: int, archived: bool) -> Bin | None:
    """Archive or un-archive a BIN; None when refused (audited)."""
    action = "bin.archive" if archived else "bin.unarchive"
    async with core.uow() as uow:
        b = await uow.directory.bin(bin_id)
        if b is None or not may_manage(who, b.zone_id):
            await _refused(uow, core, who, action, bin_id=bin_id)
            return None
        await directory.set_archived(uow, core.clock.now(), b, archived, who.pseudonym)
        await uow.commit()
        return b


@dataclass(frozen=True)
class ZoneForm:
    """The zone settings form (untrusted)."""

    quiet_start: str
    quiet_end: str
    reminder_days: str
    language: str


async def zone_settings(
    core: Core, who: Viewer, zone_id: int, form: ZoneForm
) -> bool | list[Problem] | None:
    """Set a zone's quiet hours, reminder frequency and language with the rules of `binbot
    zone add` and `apply`: whether anything changed, the problems, or None when refused."""
    problems: list[Problem] = []
    values: dict[str, Any] = {}
    try:
        values["quiet_hours"] = (
            validation.clock_time(form.quiet_start, "start"),
            validation.clock_time(form.quiet_end, "end"),
        )
    except InvalidInput:
        problems.append(Problem("quiet", "bins.error_quiet"))
    try:
        values["reminder_days"] = validation.reminder_days(form.reminder_days)
    except InvalidInput:
        problems.append(Problem("reminder_days", "bins.error_reminder_days"))
    try:
        values["language"] = validation.language(form.language)
    except InvalidInput:
        problems.append(Problem("language", "bins.error_language"))
    async with core.uow() as uow:
        zone = await uow.directory.zone(zone_id)
        if zone is None or not may_manage(who, zone.id):
            await _refused(uow, core, who, "zone.update", zone_id=zone_id)
            return None
        if problems:
            return problems
        quiet = values.pop("quiet_hours")
        try:
            spec = ZoneSpec.model_validate(
                {"name": zone.name, "quiet_hours": [hhmm(quiet[0]), hhmm(quiet[1])], **values}
            )
            changed = await directory.update_zone(uow, core.clock.now(), zone, spec, who.pseudonym)
        except (ValidationError, DirectoryError):
            return [Problem("quiet", "bins.error_quiet")]
        await uow.commit()
        return changed


# -- a BIN's page ----------------------------------------------------------------------------


@dataclass(frozen=True)
class GroupLine:
    """A group of the BIN: where, since when, and whether the bot holds its rights."""

    title: str
    platform: str
    linked: str
    active: bool
    reason: str
    lacks: str
    fix: str


@dataclass(frozen=True)
class Details:
    """What the BIN's page shows beyond the coordinators' view; `own` names the settings
    the BIN has of its own ("quiet", "reminder_days", "language"), the rest are the zone's."""

    manage: bool
    archived: str
    intake: list[str] | None
    quiet: str
    reminder_days: int
    language: str
    member_total: int
    members: dict[str, int]
    groups: list[GroupLine]
    own: tuple[str, ...] = ()


async def details(core: Core, who: Viewer, bin_id: int) -> Details | None:
    """The BIN's settings, its groups with their link dates and the bot's rights, and its
    members per platform; None when it is not this person's to see."""
    async with core.uow() as uow:
        b = await uow.directory.bin(bin_id)
        if b is None or not may_see_bin(who, b):
            return None
        zone = await core.zone(b.zone_id, uow)
        assert zone is not None
        lines = []
        for g in await uow.desk.groups_of([b.id]):
            missing = parse(g.missing_rights) if g.active else ()
            lines.append(
                GroupLine(
                    g.title or g.chat_id,
                    g.platform,
                    render.when(g.linked_at, zone, who.lang),
                    g.active,
                    g.inactive_reason or "",
                    rights_text(missing, who.lang) if missing else "",
                    rights_fix(g.platform, missing, who.lang) if missing else "",
                )
            )
        members = await uow.bins.members_per_platform(b.id)
        total = (await uow.desk.member_counts([b.id])).get(b.id, 0)
    archived = render.when(b.archived_at, zone, who.lang) if b.archived_at else ""
    held = bin_settings.of(zone, b)
    own = (
        ("quiet",) * (b.quiet_start is not None and b.quiet_end is not None)
        + ("reminder_days",) * (b.reminder_days is not None)
        + ("language",) * (b.language is not None)
    )
    return Details(
        may_manage(who, b.zone_id),
        archived,
        b.intake,
        f"{hhmm(held.quiet_start)}–{hhmm(held.quiet_end)}",
        held.reminder_days,
        held.language,
        total,
        members,
        lines,
        own,
    )
