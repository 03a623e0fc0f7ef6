"""Loading an image for captioning: one RGB picture, or the text an SVG carries, or a clear error.

Every failure is an :class:`ImageError` whose message is one line naming the image and the problem;
a batch reports it for that image and goes on with the others.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import stat
import warnings
from dataclasses import dataclass
from typing import Any

from alttext import messages
from alttext.pipeline.evidence.metadata import authored

# Pillow's own guard is 89 MP (a warning) and 179 MP (an error); ours is stricter and an error.
DEFAULT_MAX_PIXELS = 64_000_000
DEFAULT_MAX_BYTES = 50 * 1024 * 1024
# Captioners see 384 px; anything much larger only costs memory.
DEFAULT_MAX_SIDE = 1024
_SVG_SNIFF = re.compile(rb"^\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*(?:<!DOCTYPE[^>]*>\s*)?<svg[\s>]", re.DOTALL | re.IGNORECASE)
_SVG_TEXT_TAGS = frozenset({"title", "desc", "text"})


class ImageError(Exception):
    """An image that cannot be used; ``str()`` is one line naming it."""


@dataclass(frozen=True)
class LoadedImage:
    name: str
    sha256: str
    format: str  # PNG, JPEG, GIF, WEBP, BMP, TIFF, SVG…
    width: int
    height: int
    image: Any = None  # a PIL RGB image; None for SVG
    svg_text: tuple[str, ...] = ()  # the SVG's <title>, <desc> and <text> content
    alpha: bool = False  # some pixel was transparent (laid on white in ``image``)
    metadata: tuple[tuple[str, str], ...] = ()  # (field, text) an author wrote into the file


def load_image(
    data: bytes,
    name: str,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_side: int = DEFAULT_MAX_SIDE,
) -> LoadedImage:
    """Decode ``data`` (the bytes of the image called ``name`` in messages)."""
    if not data:
        raise ImageError(messages.IMG_EMPTY.format(name=name))
    if len(data) > max_bytes:
        raise ImageError(messages.IMG_TOO_LARGE.format(name=name, size=len(data), limit=max_bytes))
    digest = hashlib.sha256(data).hexdigest()
    if name.lower().endswith(".svg") or _SVG_SNIFF.match(data[:4096]):
        return _load_svg(data, name, digest)
    return _load_raster(data, name, digest, max_pixels, max_side)


def load_image_file(path: str, **limits: int) -> LoadedImage:
    limit = limits.get("max_bytes", DEFAULT_MAX_BYTES)
    try:
        # Opened without blocking and checked on the open file: opening a FIFO for reading
        # otherwise waits for a writer forever, and a device never ends.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise ImageError(messages.IMG_NOT_FILE.format(name=path, kind=_file_kind(info.st_mode)))
            if info.st_size > limit:
                raise ImageError(messages.IMG_TOO_LARGE.format(name=path, size=info.st_size, limit=limit))
            with open(fd, "rb", closefd=False) as f:
                data = f.read()
        finally:
            os.close(fd)
    except OSError as exc:
        raise ImageError(messages.IMG_UNREADABLE.format(name=path, reason=exc.strerror or exc)) from None
    return load_image(data, path, **limits)


def _file_kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "a special file"


def _load_raster(data: bytes, name: str, digest: str, max_pixels: int, max_side: int) -> LoadedImage:
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            # Our own limit below is the guard, with a clearer message; Pillow's hard limit
            # (DecompressionBombError) still applies above it.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data))
            width, height = im.size
            # Checked before decoding: a 100 kB PNG can declare a 10 GB canvas.
            if width * height > max_pixels:
                raise ImageError(messages.IMG_BOMB.format(name=name, width=width, height=height, limit=max_pixels))
            fmt = im.format or "unknown"
            im.seek(0)  # the first frame of an animation
            if fmt == "JPEG":
                im.draft("RGB", (max_side, max_side))  # decode at reduced size: less memory, faster
            im.load()
            metadata = authored(im)
            im = ImageOps.exif_transpose(im)
            im, alpha = _to_rgb(im)
            if max(im.size) > max_side:
                im.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    except ImageError:
        raise
    except UnidentifiedImageError:
        raise ImageError(messages.IMG_UNKNOWN.format(name=name)) from None
    except Image.DecompressionBombError:
        raise ImageError(messages.IMG_BOMB_PIL.format(name=name)) from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageError(messages.IMG_CORRUPT.format(name=name, reason=str(exc).splitlines()[0] if str(exc) else type(exc).__name__)) from None
    return LoadedImage(name, digest, fmt, width, height, image=im, alpha=alpha, metadata=metadata)


def _to_rgb(im: Any) -> tuple[Any, bool]:
    """The picture as RGB, and whether some pixel was transparent."""
    from PIL import Image

    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16- and 32-bit greyscale: scale to 8 bits instead of clipping everything to white.
        top = 65535 if im.mode.startswith("I;16") else max(1, im.getextrema()[1])
        im = im.point(lambda v: v * (255 / top)).convert("L")
    elif im.mode == "F":
        im = im.convert("L")
    if im.mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        # Transparent pixels are shown on a page background, most often white.
        rgba = im.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background, rgba.getchannel("A").getextrema()[0] < 255
    return (im.convert("RGB") if im.mode != "RGB" else im), False


def _load_svg(data: bytes, name: str, digest: str) -> LoadedImage:
    import xml.etree.ElementTree as ET

    _refuse_entities(data, name)
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise ImageError(messages.IMG_SVG_INVALID.format(name=name, reason=exc)) from None
    texts: list[str] = []
    for element in root.iter():
        tag = element.tag.rsplit("}", 1)[-1] if isinstance(element.tag, str) else ""
        if tag in _SVG_TEXT_TAGS:
            text = " ".join("".join(element.itertext()).split())
            if text and text not in texts:
                texts.append(text)
    if not texts:
        raise ImageError(messages.IMG_SVG_NO_TEXT.format(name=name))
    width, height = (_svg_length(root.get(k)) for k in ("width", "height"))
    return LoadedImage(name, digest, "SVG", width, height, svg_text=tuple(texts))


class _EntityDeclared(Exception):
    pass


def _refuse_entities(data: bytes, name: str) -> None:
    """ImageError if the XML declares any entity, wherever the declaration is.

    Entity expansion is how XML bombs work, and real SVG never needs it. expat reports each
    declaration as it is read, before any reference to it is expanded, so a first pass that stops
    at the first declaration expands nothing; without declarations the tree has nothing to expand.
    """
    from xml.parsers import expat

    def declared(*_: object) -> None:
        raise _EntityDeclared

    parser = expat.ParserCreate(namespace_separator="}")  # as ElementTree's, so it reads as far
    parser.EntityDeclHandler = declared  # general and parameter entities, internal and external
    parser.UnparsedEntityDeclHandler = declared
    try:
        parser.Parse(data, True)
    except _EntityDeclared:
        raise ImageError(messages.IMG_SVG_ENTITIES.format(name=name)) from None
    except expat.ExpatError:
        pass  # not well-formed: the tree's parser below says where


def _svg_length(value: str | None) -> int:
    m = re.match(r"\s*([0-9.]+)", value or "")
    return int(float(m.group(1))) if m else 0
