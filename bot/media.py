"""Making an uploaded image safe to store and to send: re-encoded by Pillow, nothing kept.

A photo taken on a phone carries where it was taken (EXIF GPS), the camera's serial number,
editing history (XMP) and captions (IPTC). None of it may reach a resident's group, so an
image is never passed on as uploaded: its pixels are decoded, turned upright, converted to
sRGB, scaled down, and written anew as a JPEG (a PNG for graphics with few colours or
transparency) that holds nothing but those pixels.

Refused, with a reason the caller translates: more than `MAX_BYTES`, not an image of an
accepted format, more pixels than `MAX_PIXELS` (a decompression bomb: a small file that
decodes to gigabytes), or a file that does not decode to the end (truncated, damaged).
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass
from enum import StrEnum

from PIL import Image, ImageCms, ImageFile, ImageOps, UnidentifiedImageError

MAX_BYTES = 10 * 1024 * 1024
MAX_SIDE = 2560
# Larger than any phone camera (a 200 MP sensor is 200_000_000): beyond this an image is
# refused before its pixels are decoded.
MAX_PIXELS = 200_000_000
JPEG_QUALITY = 85
# A graphic (a poster, a map) with no more colours than this stays a PNG: sharp edges.
GRAPHIC_COLOURS = 256


def _load_whole(img: Image.Image) -> None:
    """Decode every pixel, refusing a truncated file rather than padding it with grey. The
    switch is Pillow's global, which other libraries in the process may have turned on
    (Synapse does): it is set for this load and put back."""
    before = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        img.load()
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = before


try:  # HEIC (iPhone photos) where the optional pillow-heif is installed
    from pillow_heif import register_heif_opener

    register_heif_opener()
    HEIC = True
except ImportError:  # pragma: no cover - depends on the installation
    HEIC = False

FORMATS: tuple[str, ...] = ("JPEG", "PNG", "WEBP") + (("HEIF",) if HEIC else ())
_SRGB = ImageCms.createProfile("sRGB")


class Refusal(StrEnum):
    """Why an image was not accepted; `media.refused_<value>` says it to the sender."""

    TOO_BIG = "too_big"
    NOT_IMAGE = "not_image"
    TOO_MANY_PIXELS = "too_many_pixels"
    DAMAGED = "damaged"


class Refused(Exception):
    """The image cannot be accepted; nothing of it was kept."""

    def __init__(self, reason: Refusal) -> None:
        super().__init__(reason.value)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Clean:
    """An image as it may be stored and sent: fresh bytes, and what they are."""

    data: bytes
    sha256: str
    width: int
    height: int
    mime: str

    @property
    def extension(self) -> str:
        return "png" if self.mime == "image/png" else "jpg"


def clean(data: bytes) -> Clean:
    """Re-encode `data` without any metadata, upright, in sRGB, at most MAX_SIDE pixels on
    the long side; raises Refused."""
    if len(data) > MAX_BYTES:
        raise Refused(Refusal.TOO_BIG)
    with warnings.catch_warnings():
        # Pillow warns (and past twice its own limit raises) on decompression bombs; any
        # warning of that kind refuses the file, whatever the global setting.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            img = Image.open(io.BytesIO(data), formats=FORMATS)
            if img.width * img.height > MAX_PIXELS:
                raise Refused(Refusal.TOO_MANY_PIXELS)
            _load_whole(img)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise Refused(Refusal.TOO_MANY_PIXELS) from None
        except UnidentifiedImageError:
            raise Refused(Refusal.NOT_IMAGE) from None
        except (OSError, SyntaxError, ValueError, EOFError):
            raise Refused(Refusal.DAMAGED) from None
        return _encode(_upright_srgb(img), lossless=img.format == "PNG")


def _upright_srgb(img: Image.Image) -> Image.Image:
    """Apply the EXIF orientation and convert embedded colour profiles to sRGB."""
    img = ImageOps.exif_transpose(img) or img
    alpha = img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info)
    icc = img.info.get("icc_profile")
    img = img.convert("RGBA" if alpha else "RGB")
    if icc:
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            converted = ImageCms.profileToProfile(img, source, _SRGB, outputMode=img.mode)
            img = converted if converted is not None else img
        except (ImageCms.PyCMSError, OSError, ValueError):
            pass  # a broken profile: the pixels as they are, which is what most viewers show
    if max(img.size) > MAX_SIDE:
        img.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    return img


def _encode(img: Image.Image, *, lossless: bool) -> Clean:
    """Write the pixels alone; a PNG stays a PNG where it is a graphic (transparency, or few
    colours: a poster, a map), anything else becomes a JPEG."""
    bare = Image.frombytes(img.mode, img.size, img.tobytes())
    graphic = bare.mode == "RGBA" or (lossless and bare.getcolors(GRAPHIC_COLOURS) is not None)
    out = io.BytesIO()
    if graphic:
        bare.save(out, "PNG", optimize=True)
        mime = "image/png"
    else:
        bare.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True, progressive=True)
        mime = "image/jpeg"
    data = out.getvalue()
    return Clean(data, hashlib.sha256(data).hexdigest(), bare.width, bare.height, mime)


def thumbnail(data: bytes, side: int = 320) -> Clean:
    """A small JPEG of a cleaned image (Matrix clients show it before the full image)."""
    img = Image.open(io.BytesIO(data)).convert("RGB")
    img.thumbnail((side, side), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    img.save(out, "JPEG", quality=75)
    small = out.getvalue()
    return Clean(small, hashlib.sha256(small).hexdigest(), img.width, img.height, "image/jpeg")
