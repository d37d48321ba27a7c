"""Every image is re-encoded before it is kept: metadata gone, upright, sRGB, bounded; and
what is not a sound image is refused with a reason."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageCms

from bot import media
from tests.photos import has_metadata, phone_photo


def test_a_phone_photo_loses_gps_serial_and_comment_and_is_turned_upright() -> None:
    raw = phone_photo(1600, 1200)
    assert has_metadata(raw)
    clean = media.clean(raw)
    assert not has_metadata(clean.data)
    assert b"SN-4417" not in clean.data and b"PhoneMaker" not in clean.data
    assert (clean.width, clean.height) == (1200, 1600)  # orientation 6 applied
    assert clean.mime == "image/jpeg"
    assert Image.open(io.BytesIO(clean.data)).size == (1200, 1600)


def test_a_large_photo_is_scaled_to_2560_on_its_long_side() -> None:
    clean = media.clean(phone_photo(3200, 1800, noise=False))
    assert max(clean.width, clean.height) == media.MAX_SIDE


def test_a_colour_profile_is_converted_to_srgb_and_not_kept() -> None:
    img = Image.effect_noise((200, 100), 50).convert("RGB")
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()
    out = io.BytesIO()
    img.save(out, "JPEG", icc_profile=profile)
    clean = media.clean(out.getvalue())
    assert "icc_profile" not in Image.open(io.BytesIO(clean.data)).info


def test_a_graphic_with_transparency_stays_a_png_without_metadata() -> None:
    img = Image.new("RGBA", (300, 200), (255, 0, 0, 128))
    out = io.BytesIO()
    img.save(out, "PNG", pnginfo=_png_text("Author", "someone"))
    clean = media.clean(out.getvalue())
    assert clean.mime == "image/png" and clean.extension == "png"
    assert not has_metadata(clean.data)


def test_webp_is_accepted() -> None:
    out = io.BytesIO()
    Image.effect_noise((120, 80), 40).convert("RGB").save(out, "WEBP")
    assert media.clean(out.getvalue()).mime == "image/jpeg"


def test_a_text_file_is_refused_as_not_an_image() -> None:
    with pytest.raises(media.Refused) as refused:
        media.clean(b"Dear neighbours,\nthis is not a photo.\n")
    assert refused.value.reason == media.Refusal.NOT_IMAGE


def test_an_unaccepted_format_is_refused_as_not_an_image() -> None:
    out = io.BytesIO()
    Image.new("RGB", (10, 10)).save(out, "BMP")
    with pytest.raises(media.Refused) as refused:
        media.clean(out.getvalue())
    assert refused.value.reason == media.Refusal.NOT_IMAGE


@pytest.mark.parametrize("switched_on_elsewhere", [False, True])
def test_a_truncated_photo_is_refused_as_damaged(
    switched_on_elsewhere: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    from PIL import ImageFile

    # Importing Synapse, for one, turns Pillow's "load truncated images" switch on globally.
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", switched_on_elsewhere)
    raw = phone_photo(400, 300)
    with pytest.raises(media.Refused) as refused:
        media.clean(raw[: len(raw) // 2])
    assert refused.value.reason == media.Refusal.DAMAGED
    assert ImageFile.LOAD_TRUNCATED_IMAGES is switched_on_elsewhere  # put back as it was


def test_more_than_10_mb_is_refused_before_decoding() -> None:
    with pytest.raises(media.Refused) as refused:
        media.clean(b"\xff\xd8" + b"\0" * media.MAX_BYTES)
    assert refused.value.reason == media.Refusal.TOO_BIG


@pytest.mark.parametrize("factor", [1.5, 3])  # Pillow warns past its limit, raises past twice
def test_a_decompression_bomb_is_refused(monkeypatch: pytest.MonkeyPatch, factor: float) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", int(100 * 100 / factor))
    out = io.BytesIO()
    Image.new("L", (100, 100)).save(out, "PNG")
    with pytest.raises(media.Refused) as refused:
        media.clean(out.getvalue())
    assert refused.value.reason == media.Refusal.TOO_MANY_PIXELS


def test_more_pixels_than_any_camera_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(media, "MAX_PIXELS", 50 * 50)
    with pytest.raises(media.Refused) as refused:
        media.clean(phone_photo(60, 60))
    assert refused.value.reason == media.Refusal.TOO_MANY_PIXELS


def _png_text(key: str, value: str) -> object:
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text(key, value)
    return info
