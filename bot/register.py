"""The register of processing: every kind of record, what it holds, why, who sees it, how long
it is kept and how a person gets or erases it — one table of rules, from which `binbot privacy
register` prints the register (the README's privacy section is its output with the default
settings), `/mydata` says how long each record is kept, and the retention job (storage/
retention.py) takes its periods. A test fails when a table has neither a rule nor an exemption.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.core_config import CoreConfig


@dataclass(frozen=True)
class Retention:
    """The retention periods in force, in days (settings `[retention]`, BINBOT_RETENTION__…)."""

    seen_days: int = 0
    requests_days: int = 30
    ended_days: int = 90
    inactive_days: int = 180
    invites_days: int = 30
    deliveries_days: int = 90
    groups_days: int = 365
    reminders_days: int = 90
    audit_days: int = 365
    figures_days: int = 1830


@dataclass(frozen=True)
class Record:
    """One kind of record. `kept` and `reason` may name periods ({audit_days}, …);
    `mydata` is the catalogue key of the line /mydata shows for it, if any."""

    key: str
    title: str
    tables: tuple[str, ...]
    holds: str
    why: str
    who: str
    kept: str
    reason: str
    mine: str
    mydata: str | None = None


RECORDS: tuple[Record, ...] = (
    Record(
        "people",
        "People and their platform accounts",
        ("persons", "identities"),
        "a random pseudonym, the chosen language, the day of the last contact; per platform "
        "account: the user id, the display name, the private chat with the bot",
        "to know who writes, to answer in their language, to reach them privately, and to "
        "check what their roles allow",
        "the person (`/mydata`); a BIN's coordinators see the display names of its members "
        "and applicants (chat: `/members`, `/requests`); the admin sees the names of role "
        "holders (CLI: `binbot role list`)",
        "while the person has a membership, a role, a join request or a conversation in "
        "progress; then erased {inactive_days} days after their last contact",
        "someone who wrote to the bot once and never joined is not kept for ever; half a year "
        "covers a season's absence without asking anyone to start over",
        "`/mydata` shows it; `/forgetme` erases it with everything below that names them",
        "groups.kept_person",
    ),
    Record(
        "roles",
        "Roles",
        ("role_grants",),
        "the role (police, prevention, coordinator), its zone or BIN, when and by whom (the "
        "admin, or an officer's pseudonym) it was granted, and when and by whom it was revoked",
        "official messages, approvals and member lists are for verified roles only",
        "the person (`/mydata`); the admin (CLI: `binbot role list`); on the desk's People "
        "page the zone's police and prevention, and a BIN's coordinators for their BIN (names "
        "as in chat)",
        "while held; {ended_days} days after it was revoked",
        "the audit log keeps the grant and the revocation; the row itself only needs to "
        "outlive a mistaken revocation",
        "`/mydata` shows them; `/forgetme` ends and erases them",
        "groups.kept_roles",
    ),
    Record(
        "invites",
        "Role invites",
        ("invites",),
        "a hash of the single-use code (never the code), the role and its scope, its expiry, "
        "who issued it (the admin, or an officer's pseudonym) and the person who redeemed it",
        "a role can only be granted by redeeming an invite the admin, or an officer of the "
        "zone on the desk, issued",
        "the admin (CLI: `binbot invite list`); the zone's police and prevention (desk: People)",
        "until used, revoked or expired; then {invites_days} days",
        "long enough for the admin to see what became of an invite; the audit log keeps the rest",
        "the link to the person who redeemed it goes with `/forgetme`",
    ),
    Record(
        "memberships",
        "Memberships of a BIN",
        ("memberships",),
        "the BIN, the status (member, left, removed) and the dates",
        "only a BIN's members are let into its groups, and coordinators need their list",
        "the person (`/mydata`); the BIN's coordinators (chat: `/members`)",
        "while active; {ended_days} days after the person left or was removed",
        "a coordinator can look back at whom they removed (and readmit them) for a season",
        "`/mydata` shows them; `/leave` ends one; `/forgetme` erases them all",
        "groups.kept_memberships",
    ),
    Record(
        "requests",
        "Join requests",
        ("join_requests", "request_copies"),
        "the BIN, the platform, the status and the dates; the intake answers (such as the "
        "street) until the request is decided; the coordinators' private copies of it (their "
        "chat and the message id, to update every copy)",
        "the BIN's coordinators decide who joins",
        "the person (`/mydata`); the BIN's coordinators (chat: `/requests`)",
        "the answers are erased at the decision (or when the request expires unanswered, "
        "after {join_request_days} days) and the copies with them; the request "
        "{requests_days} days after the decision",
        "the answers are only for the coordinator who decides; the request is kept a month "
        "so that a second request soon after can be seen for what it is",
        "`/mydata` shows them with the answers still kept; `/forgetme` withdraws and erases them",
        "groups.kept_requests",
    ),
    Record(
        "photos",
        "Photos of official messages",
        ("photos",),
        "the photo an officer sent with an official message or an update (a missing person, a "
        "wanted vehicle), re-encoded without any metadata, stored by its hash; its size and the "
        "platforms' ids of its upload",
        "residents see what the police ask them to look out for",
        "the residents of the groups the message went to; police and prevention of the zone",
        "until the message is withdrawn, or {media_keep_days} days after it expired",
        "long enough to answer `/check` about a message still talked about, and no longer",
        "it belongs to the organisation that sent it, not to a resident: `/mydata` and "
        "`/forgetme` do not concern it",
    ),
    Record(
        "desk",
        "Desk logins and sessions",
        ("desk_logins", "desk_sessions"),
        "a hash of each one-time login link and of each session cookie, the person it "
        "belongs to, its language and when it was made, used and last used",
        "police, prevention and coordinators log into the desk from chat, without passwords",
        "nobody: only the bot reads it",
        "a login link until used or a day past its ten minutes; a session until logout, and "
        "its row a week after its last use (an unused session is refused after hours)",
        "a login can be traced to the chat it was asked from for as long as it could be used",
        "`/forgetme` erases them; revoking the role ends the sessions",
    ),
    Record(
        "conversations",
        "Conversations in progress",
        ("conversations",),
        "the step of a wizard (`/alert`, the intake questions, `/forgetme`) and the answers "
        "given so far",
        "a wizard continues where it was, on any process, after a restart",
        "nobody: only the bot reads it",
        "until finished, cancelled, or {conversation_timeout_minutes} minutes without an answer",
        "a question left unanswered is not a reason to keep its answers",
        "`/cancel` ends it; `/forgetme` erases it",
    ),
    Record(
        "alerts",
        "Official messages and their follow-ups",
        ("alerts", "alert_targets", "followups"),
        "the text, category, urgency, target BINs and times; the author as a link to their "
        "pseudonym; the author's private chat for the receipt; the number of Seen",
        "the zone's public record of what it told residents; `/check` tells a genuine "
        "message from a fake one",
        "anyone (chat: `/check REF`) and the groups it reached; police and prevention of the "
        "zone (chat: `/alerts`, `/status`)",
        "kept as the zone's record; the receipt's chat is cleared {deliveries_days} days "
        "after the message was sent; the link to the author goes when the author is erased",
        "what a police zone told the public stays verifiable; nothing in it points at a resident",
        "an author's `/forgetme` removes the link to them; the message stays",
    ),
    Record(
        "seen",
        "Seen",
        ("seen",),
        "per current official message, one mark per person who pressed Seen: a keyed hash "
        "of their id under a random key of that message; no time, no id",
        "to count each person once",
        "nobody: the author sees only the count",
        "while the message is current (and {seen_days} days after); then the marks and the "
        "message's key are deleted, and the count stays on the message",
        "once the key is gone a mark names nobody: only the key can test a person's id against it",
        "`/mydata` counts yours on current messages; `/forgetme` deletes them",
        "groups.kept_seen",
    ),
    Record(
        "deliveries",
        "Deliveries",
        ("deliveries",),
        "one row per official message or follow-up per group: the chat, the platform's "
        "message id, the status, attempts and the last error",
        "each message reaches each group exactly once; follow-ups reply to it; a withdrawal "
        "deletes it",
        "police and prevention of the zone (chat: `/status`)",
        "{deliveries_days} days after the message was sent, once it is no longer current; "
        "then counted in the monthly figures and deleted",
        "a follow-up or a withdrawal comes within days; after that the counts are enough",
        "no personal data",
    ),
    Record(
        "groups",
        "Linked groups",
        ("groups",),
        "the platform chat, its title and language, the pinned rules, the invite link, the "
        "last 101 nudge, the rights the bot lacks there, and who linked it (a link to their "
        "pseudonym)",
        "official messages reach a BIN through its groups",
        "the BIN's coordinators (chat); police and prevention (chat: `/status`)",
        "while linked; {groups_days} days after it was unlinked, once no delivery refers to it",
        "a group unlinked by mistake can be linked again with its history for a year",
        "the link to the person who linked it goes with `/forgetme`",
    ),
    Record(
        "reminders",
        "101 reminders",
        ("reminders",),
        "which group had the periodic 101 reminder in which period, and when",
        "each group gets it once per period",
        "nobody",
        "{reminders_days} days (at least the longest reminder period of any zone)",
        "the row is only needed while its period runs",
        "no personal data",
    ),
    Record(
        "audit",
        "Audit log",
        ("audit_log",),
        "privileged actions (invites, roles, approvals, official messages, follow-ups, "
        "erasures, retention runs): the time, the actor's pseudonym (or admin), the action, "
        "the outcome, the zone or BIN, and ids; never a name or a message text",
        "accountability of everyone who holds power over others",
        "the admin (CLI: `binbot audit`)",
        "{audit_days} days",
        "a year covers the questions a complaint or an inspection asks",
        "`/mydata` counts the entries under your pseudonym; `/forgetme` does not erase them "
        "(accountability), but afterwards the pseudonym names no one",
        "groups.kept_audit",
    ),
    Record(
        "figures",
        "Monthly figures",
        ("monthly_figures",),
        "per BIN and month: official messages by urgency and category, deliveries by "
        "platform and status, Seen, members, joins and departures, join requests by outcome, "
        "the median and 95th percentile of the time from sending to delivery, and how many "
        '101 nudges, thank-yous and "I called 101" confirmations there were',
        "the programme's statistics outlive the rows they count",
        "police and prevention (the desk's statistics), the admin",
        "{figures_days} days",
        "five years of figures to compare; they hold counts only",
        "no personal data",
    ),
)

# Tables that hold no personal data and need no period: the reason is printed too.
EXEMPT: Mapping[str, str] = {
    "zones": "the zones' names, numbers, languages and quiet hours: no personal data, kept "
    "until the admin removes the zone",
    "bins": "the BINs' names, codes, areas, intake questions and own settings (quiet hours, "
    "reminder frequency, language): no personal data, kept until the admin removes the BIN",
    "kv": "adapter state such as the Matrix sync token: no personal data, overwritten in place",
}


def values(config: CoreConfig) -> dict[str, object]:
    """The periods the texts of the register and of /mydata name."""
    found: dict[str, object] = dict(asdict(config.retention))
    found["join_request_days"] = _number(config.join_request_days)
    found["conversation_timeout_minutes"] = _number(config.conversation_timeout_minutes)
    found["media_keep_days"] = _number(config.media_keep_days)
    return found


def _number(value: float) -> str:
    return f"{value:g}"


def render(config: CoreConfig) -> str:
    """The register of processing as Markdown, with the periods in force."""
    found = values(config)
    lines = [
        "Every kind of record binbot keeps, generated from its retention rules (`binbot "
        "privacy register` prints it with the settings in force; this is the output with "
        "the defaults). A daily job, run by the one process that runs the scheduler, deletes "
        "what has reached its end, in batches, after counting it into the monthly figures; "
        "`binbot db purge --dry-run` shows what the next run would delete.",
    ]
    for rec in RECORDS:
        tables = ", ".join(f"`{t}`" for t in rec.tables)
        lines += [
            "",
            f"### {rec.title}",
            "",
            f"- **Holds** ({tables}): {rec.holds}.",
            f"- **Why:** {rec.why}.",
            f"- **Who sees it:** {rec.who}.",
            f"- **Kept:** {rec.kept.format(**found)}.",
            f"- **Why that long:** {rec.reason}.",
            f"- **Your copy, your erasure:** {rec.mine}.",
        ]
    lines += ["", "### Tables without personal data", ""]
    lines += [f"- `{table}`: {why}." for table, why in EXEMPT.items()]
    return "\n".join(lines)


def covered() -> dict[str, str]:
    """Every table with a rule or an exemption, and which."""
    found = {t: rec.key for rec in RECORDS for t in rec.tables}
    found.update({t: "exempt" for t in EXEMPT})
    return found
