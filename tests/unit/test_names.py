"""Zone and BIN names are found whatever their case, accents or spacing, on SQLite and on
PostgreSQL alike (a stored key, storage/names.py), and look-alike twins cannot be made."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import bindparam, text

from storage.db import Database, alembic_config, head_revision
from storage.names import name_key
from storage.tables import UTCDateTime
from tests.fakes import Harness


@pytest.fixture
async def hh(tmp_path: Path, db_url: str) -> AsyncIterator[Harness]:
    """The harness on SQLite and on PostgreSQL."""
    harness = await Harness.create(tmp_path, url=db_url)
    yield harness
    await harness.close()


def test_the_key_folds_case_accents_width_and_spacing() -> None:
    assert name_key("  Élouges\u00a0 Centre ") == "elouges centre"
    assert name_key("ÉLOUGES CENTRE") == name_key("elouges centre")
    assert name_key("Ｂｅｒｉｎｇｅｎ") == "beringen"  # NFKC: full-width letters
    assert name_key("Straße") == "strasse"  # casefold, not lower
    assert name_key("Écaussinnes") != name_key("Ecaussinne")


async def test_accented_zone_is_found_by_the_admin(hh: Harness) -> None:
    assert await hh.admin("zone add Écaussinnes --language fr") == [
        "zone Écaussinnes added (urgent 101, language fr)"
    ]
    out = await hh.admin("bin add T --zone écaussinnes")
    assert out == ["BIN T added to zone Écaussinnes with code t-bin"]
    assert (await hh.admin("invite police --zone 'ECAUSSINNES'"))[0].startswith("invite 1 ")
    assert len(await hh.admin("bin list --zone Ecaussinnes")) == 1


async def test_accented_bin_is_found_by_invite_join_and_link(hh: Harness) -> None:
    await hh.admin("zone add Écaussinnes --language fr")
    await hh.admin("bin add 'Élouges Centre' --zone Écaussinnes")
    out = await hh.admin("invite coordinator --bin 'élouges  centre'")
    assert out[0].startswith("invite 1 for coordinator")
    await hh.say("an", f"/redeem {hh.code}")
    await hh.add_bot("buurt", "an")
    await hh.say("an", "/link ÉLOUGES CENTRE", chat="buurt")
    assert "fait maintenant partie du PLP Élouges Centre" in hh.last("an")
    await hh.say("jan", "/join Élouges Centre")
    assert hh.last("jan").startswith("Vous avez demandé à rejoindre le PLP Élouges Centre.")


@pytest.mark.parametrize(
    "twin", ["BERINGEN", "  Beringen ", "Béringen", "Ｂｅｒｉｎｇｅｎ", "beringen"]
)
async def test_a_zone_name_that_only_looks_different_is_refused(hh: Harness, twin: str) -> None:
    await hh.admin("zone add Beringen")
    out = await hh.admin(f"zone add '{twin}'")
    assert out[-1].startswith("error: zone ") and "exists already (as 'Beringen')" in out[-1]
    assert len(await hh.admin("zone list")) == 1


async def test_a_bin_name_that_only_looks_different_is_refused(hh: Harness) -> None:
    await hh.admin("zone add Beringen")
    await hh.admin("bin add 'Élouges Centre' --zone Beringen")
    out = await hh.admin("bin add 'ELOUGES   centre' --zone Beringen --code other")
    assert out == ["error: zone 'Beringen' has a BIN named 'Élouges Centre' already"]
    await hh.admin("zone add Genk")  # another zone may have a BIN of that name
    assert "added" in (await hh.admin("bin add 'Elouges Centre' --zone Genk --code genk-e"))[0]


async def test_existing_names_get_their_key_when_migrating(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Rows made before the key existed are found after `db upgrade`; twins stay reachable."""
    db = Database(db_url)

    def to_0003(conn):  # type: ignore[no-untyped-def]
        from alembic import command

        command.upgrade(alembic_config(conn), "0003")

    async with db.engine.begin() as conn:
        await conn.run_sync(to_0003)
        now = datetime(2026, 1, 5, 12, tzinfo=UTC)
        for zone_id, name in ((1, "Écaussinnes"), (2, "écaussinnes")):  # SQLite allowed both
            await conn.execute(
                text(
                    "INSERT INTO zones (id, name, urgent_number, emergency_number, language,"
                    " timezone, quiet_start, quiet_end, reminder_days, created_at) VALUES"
                    " (:id, :name, '101', '112', 'fr', 'Europe/Brussels', 0, 0, 7, :now)"
                ).bindparams(bindparam("now", type_=UTCDateTime())),
                {"id": zone_id, "name": name, "now": now},
            )
        await conn.execute(
            text(
                "INSERT INTO bins (id, zone_id, name, code, created_at)"
                " VALUES (1, 1, 'Élouges  Centre', 'elouges', :now)"
            ).bindparams(bindparam("now", type_=UTCDateTime())),
            {"now": now},
        )
    with caplog.at_level(logging.WARNING):
        await db.upgrade()
    assert await db.current_revision() == head_revision()
    assert "zones: names of rows [2] clash" in caplog.text
    async with db.unit_of_work() as uow:
        zone = await uow.directory.zone_by_name("ECAUSSINNES")
        twin = await uow.directory.zone_by_name("écaussinnes #2")
        found = await uow.directory.find_bin("élouges centre")
    assert zone is not None and zone.id == 1
    assert twin is not None and twin.id == 2
    assert found is not None and found.code == "elouges"
    await db.dispose()
