"""Test photos made with Pillow: a phone photo with GPS and a camera serial in its EXIF."""

from __future__ import annotations

import io

from PIL import Image

GPS_IFD = 0x8825
BODY_SERIAL = 0xA431
ORIENTATION = 0x0112


def phone_photo(width: int = 1600, height: int = 1200, *, noise: bool = True) -> bytes:
    """A JPEG as a phone writes it: GPS position, camera make and serial, turned on its side."""
    img = Image.new("RGB", (width, height), (90, 120, 160))
    if noise:  # many colours: a photo, not a graphic (which would stay a PNG)
        bands = [Image.effect_noise((width, height), sigma) for sigma in (40, 60, 80)]
        img = Image.merge("RGB", bands)
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    exif[BODY_SERIAL] = "SN-4417-0098"
    exif[ORIENTATION] = 6  # stored sideways: shown turned a quarter
    exif[GPS_IFD] = {1: "N", 2: (51.0, 3.0, 30.0), 3: "E", 4: (5.0, 13.0, 0.0)}
    out = io.BytesIO()
    img.save(out, "JPEG", exif=exif.tobytes(), quality=90, comment=b"holiday")
    return out.getvalue()


def has_metadata(data: bytes) -> bool:
    """Whether an image still carries EXIF, XMP, a comment or a colour profile."""
    with Image.open(io.BytesIO(data)) as img:
        info = set(img.info) - {"jfif", "jfif_version", "jfif_unit", "jfif_density", "dpi"}
        info -= {"progressive", "progression"}
        return bool(dict(img.getexif())) or bool(info)
