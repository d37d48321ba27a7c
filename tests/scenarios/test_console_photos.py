"""The issue's "Done when", in the console as a new user would try it: an officer adds a
photo with GPS in its EXIF to a missing-person message for two groups; each group shows it
once with the text; the stored copy has no EXIF; a text file sent as a photo is refused."""

from __future__ import annotations

import io
import random
from datetime import UTC, datetime
from pathlib import Path

from bot.app import console
from config.settings import load_settings
from tests.clock import ManualClock
from tests.photos import has_metadata, phone_photo

SCENARIO = """\
$ zone add Beringen --language en --non-urgent "011 27 95 79"
$ bin add "Koersel Noord" --zone Beringen --code noord
$ invite coordinator --bin noord
an@dm: /redeem {{code}}
an@Kerkstraat: /link noord
an@Dorpsplein: /link noord
$ invite police --zone Beringen
sofie@dm: /redeem {{code}}
sofie@dm: +photo {photo}
sofie@dm: /alert
sofie@dm: [Whole zone]
sofie@dm: [Missing person]
sofie@dm: +photo {notes}
sofie@dm: Missing since 14:00: man of 82, grey coat, walks with a stick. Call 101.
sofie@dm: +photo {photo}
sofie@dm: [Confirm]
lies@dm: /check {{ref}}
"""


async def test_an_officer_adds_a_phone_photo_to_a_missing_person_message(tmp_path: Path) -> None:
    photo, notes = tmp_path / "marc.jpg", tmp_path / "notes.txt"
    photo.write_bytes(phone_photo(1600, 1200))
    notes.write_text("Marc, 82, grey coat\n")
    settings = load_settings(database_url=str(tmp_path / "c.db"), data_dir=tmp_path / "data")
    out: list[str] = []
    script = SCENARIO.format(photo=photo, notes=notes)
    clock = ManualClock(datetime(2026, 3, 2, 14, 0, tzinfo=UTC))
    await console(
        settings, io.StringIO(script), out.append, clock=clock, rng=random.Random(1), prompt=False
    )
    said = [line for line in out if line.startswith("bot")]
    assert (
        "bot→sofie: A photo only goes out with an official message: send it in step 3 of "
        "/alert, or with the caption /update REF text." in said
    )
    refused = "bot→sofie: That is not a photo I can take: send a JPEG, PNG, WebP or HEIC image."
    assert any(line.startswith(refused) for line in said)
    assert any(line.startswith("bot→sofie: Step 3 of 4 — a photo?") for line in said)
    for group in ("Kerkstraat", "Dorpsplein"):
        posts = [line for line in said if line.startswith(f"bot→{group}: ")]
        [official] = [line for line in posts if "OFFICIAL BIN MESSAGE" in line]
        assert official.startswith(f"bot→{group}: [photo 1200x1600] 🚨 OFFICIAL BIN MESSAGE")
        assert "grey coat, walks with a stick" in official
    assert any(line.startswith("bot→lies: [photo 1200x1600]") for line in said)  # /check
    [stored] = list((tmp_path / "data" / "media").iterdir())
    assert not has_metadata(stored.read_bytes())
    assert b"SN-4417" not in stored.read_bytes()
