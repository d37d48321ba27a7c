"""The issue's "done when" flow on the console platform, in Dutch and in French, replayed from
examples/groups.txt and examples/groups_fr.txt as a new user would type it."""

from __future__ import annotations

import io
import random
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from bot.app import console
from config.settings import load_settings
from storage.db import Database
from storage.tables import Group, Identity, JoinRequest, Membership
from tests.clock import ManualClock

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


async def replay(name: str, tmp_path: Path) -> list[str]:
    """Run an example through `binbot console` with a fixed clock; the printed lines."""
    settings = load_settings(database_url=str(tmp_path / "console.db"))
    out: list[str] = []
    clock = ManualClock(datetime(2026, 3, 2, 14, 0, tzinfo=UTC))
    script = (EXAMPLES / name).read_text(encoding="utf-8")
    await console(
        settings, io.StringIO(script), out.append, clock=clock, rng=random.Random(1), prompt=False
    )
    return out


def after(lines: list[str], typed: str) -> list[str]:
    """What the bot printed in answer to one typed line (up to the next typed line)."""
    start = lines.index("> " + typed) + 1
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("> ")), len(lines))
    return lines[start:end]


async def leftovers(tmp_path: Path, user: str) -> list[object]:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'console.db'}")
    try:
        async with db.session() as s:
            identities = (await s.execute(select(Identity))).scalars().all()
            others = {i.person_id for i in identities if i.user_id != user}
            found: list[object] = [i for i in identities if i.user_id == user]
            for table in (Membership, JoinRequest):
                rows = (await s.execute(select(table))).scalars().all()
                found += [r for r in rows if r.person_id not in others]
            groups = (await s.execute(select(Group))).scalars().all()
    finally:
        await db.dispose()
    assert len(groups) == 2 and all(g.active for g in groups)
    return found


async def test_done_when_in_dutch(tmp_path: Path) -> None:
    out = await replay("groups.txt", tmp_path)
    linked = after(out, "an@Kerkstraat: /link noord")
    assert any(
        line.startswith("bot→Kerkstraat: Groepsregels – BIN Koersel Noord") for line in linked
    )
    assert any(line.startswith('bot⇒Kerkstraat: pin "Groepsregels') for line in linked)
    assert "bot⇒Kerkstraat: approval-only" in linked
    assert any(
        "bot⇒Dorpsplein: approval-only" == line for line in after(out, "an@Dorpsplein: /link")
    )

    asked = after(out, "jan@Kerkstraat: +join")
    assert asked[-1].endswith("Vraag 1/1: In welke straat woon je?")
    request = after(out, "jan@dm: Kerkstraat 12")
    assert request[0].startswith("bot→an: Nieuwe aanvraag #1") and "[Goedkeuren]" in request[0]
    approved = after(out, "an@dm: [Goedkeuren]")
    assert "bot⇒Kerkstraat: approve jan" in approved
    assert any(
        line.startswith("bot→jan: Welkom in BIN Koersel Noord!") and "101" in line
        for line in approved
    )

    [nudge] = after(out, "jan@Kerkstraat: Er staat een verdachte wagen in de straat")
    assert "Heb je eerst de politie gebeld?" in nudge and nudge.endswith("[Ik heb 101 gebeld]")
    called = after(out, "jan@Kerkstraat: [Ik heb 101 gebeld]")
    assert called[-1].startswith("bot→Kerkstraat: ✅ jan heeft de politie gebeld (101).")
    assert after(out, "lies@Kerkstraat: Nu ook een inbraak verderop?") == []

    assert after(out, "jan@dm: /leave")[-1].startswith("bot→jan: Je bent geen lid meer")
    assert after(out, "jan@dm: [Ja, wis alles]") == [
        "bot⇒an: edit Aanvraag #1: gewist op vraag van de aanvrager. Naam en antwoorden worden "
        "niet meer bewaard.",
        "bot→jan: Gedaan: ik heb alles over je gewist. Schrijf je me opnieuw, dan begin ik met "
        "een leeg blad. ⏎ Ook de berichten waarin coördinatoren je aanvraag kregen, tonen je "
        "naam en antwoorden niet meer (1).",
    ]
    assert await leftovers(tmp_path, "jan") == []


async def test_done_when_in_french(tmp_path: Path) -> None:
    out = await replay("groups_fr.txt", tmp_path)
    linked = after(out, "marie@Quartier: /link nord")
    assert linked[0].startswith("bot→Quartier: Bonjour ! Je suis le bot du Partenariat Local")
    assert linked[1].startswith("bot→Quartier: Règles du groupe – PLP Quartier Nord")
    assert after(out, "luc@Quartier: +join")[-1].endswith("Dans quelle rue habitez-vous ?")
    assert "[Accepter] [Refuser]" in after(out, "luc@dm: Rue de Fer 8")[0]
    approved = after(out, "marie@dm: [Accepter]")
    assert "bot⇒Quartier: approve luc" in approved
    assert any(
        line.startswith("bot→luc: Bienvenue dans le PLP Quartier Nord !") for line in approved
    )
    [nudge] = after(out, "luc@Quartier: Une voiture suspecte dans la rue")
    assert "Avez-vous d'abord appelé la police ?" in nudge
    called = after(out, "luc@Quartier: [J'ai appelé le 101]")
    assert called[-1].startswith("bot→Quartier: ✅ luc a appelé la police (101).")
    assert after(out, "anne@Quartier: Un cambriolage aussi plus loin ?") == []
    assert after(out, "luc@dm: [Oui, tout effacer]")[-1].startswith(
        "bot→luc: C'est fait : j'ai tout effacé"
    )
    assert await leftovers(tmp_path, "luc") == []
