"""Descriptions that authors already wrote into the image file.

Read from EXIF (ImageDescription, Windows' XPTitle and XPComment), XMP (``dc:title``,
``dc:description``), IPTC (Headline, Caption-Abstract) and PNG text chunks (Title, Description).
It is authored evidence, like a figcaption. What cameras and programs write on their own
("OLYMPUS DIGITAL CAMERA", ``DSC_0012``, "Created with GIMP") is not a description and is dropped.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

VERSION = "metadata/1"
MAX_CHARS = 300

_JUNK = re.compile(
    r"^(?:"
    r"[A-Za-z]{0,6}[\s_-]?\d{2,}(?:[\s_-]\d+)*(?:\.\w{2,4})?"  # DSC_0012, IMG_1234.JPG, P1010001, 20190512_101010
    r"|(?:olympus|sony|samsung|kodak|nikon|canon|fujifilm|panasonic|pentax|leica|casio|ricoh|minolta|konica|sanyo|huawei|xiaomi|apple)"
    r"(?:\s+(?:digital|still|camera|dsc|corporation|inc\.?|co\.?,?\s*ltd\.?|imaging)){0,4}"
    r"|(?:digital\s+)?(?:still\s+)?camera|dsc|exif[_\s]jpeg[_\s](?:picture|\d+)|lead technologies.*|created with .*|made with .*"
    r"|(?:un)?titled(?:\s+\d+)?|default|image|photo|picture|screenshot|description|title|none|null|n/?a|-+|\.+|\?+"
    r")$",
    re.IGNORECASE,
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_XMP_FIELDS = {"title": "XMP title", "description": "XMP description"}
_DC = "{http://purl.org/dc/elements/1.1/}"
_RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


def authored(image: Any) -> tuple[tuple[str, str], ...]:
    """(field, text) pairs from a PIL image as opened, before conversion; junk and repeats dropped."""
    found: list[tuple[str, str]] = []
    for reader in (_exif, _xmp, _iptc, _png):
        try:
            found += reader(image)
        except Exception:  # a malformed block in one place must not lose the others, or the image
            continue
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    for field, value in found:
        text = clean(value)
        if text and text.lower() not in seen:
            seen.add(text.lower())
            out.append((field, text))
    return tuple(out)


def clean(value: Any) -> str:
    """One line of text, or '' for junk."""
    if isinstance(value, bytes):
        value = value.decode("utf-16-le" if value[1:2] == b"\x00" else "utf-8", errors="replace")
    if not isinstance(value, str):
        return ""
    text = " ".join(_CONTROL.sub(" ", value.replace("\ufffd", "")).split()).strip(" \x00")
    if len(text) < 3 or _JUNK.match(text) or not re.search(r"[^\W\d_]", text):
        return ""
    return text[:MAX_CHARS].rsplit(" ", 1)[0] + "…" if len(text) > MAX_CHARS else text


def _exif(image: Any) -> list[tuple[str, str]]:
    exif = image.getexif()
    out = []
    for tag, field in ((0x010E, "EXIF ImageDescription"), (0x9C9B, "EXIF XPTitle"), (0x9C9C, "EXIF XPComment")):
        value = exif.get(tag)
        if isinstance(value, (tuple, list)):  # XP tags may come as a tuple of byte values
            value = bytes(value)
        if isinstance(value, bytes) and tag != 0x010E:
            value = value.decode("utf-16-le", errors="replace").rstrip("\x00")
        if value:
            out.append((field, value))
    return out


def _xmp(image: Any) -> list[tuple[str, str]]:
    packet = image.info.get("xmp") or image.info.get("XML:com.adobe.xmp")
    if not packet:
        return []
    if isinstance(packet, str):
        packet = packet.encode("utf-8")
    if b"<!DOCTYPE" in packet.upper() or b"<!ENTITY" in packet.upper():
        return []  # entity expansion is how XML bombs work; XMP never needs it
    start, end = packet.find(b"<x:xmpmeta"), packet.rfind(b"</x:xmpmeta>")
    root = ET.fromstring(packet[start : end + len(b"</x:xmpmeta>")] if start >= 0 and end > start else packet)
    out = []
    for name, field in _XMP_FIELDS.items():
        for element in root.iter(_DC + name):
            items = list(element.iter(_RDF + "li"))
            chosen = next((li for li in items if li.get(_XML_LANG) == "x-default"), items[0] if items else element)
            if chosen.text:
                out.append((field, chosen.text))
    return out


def _iptc(image: Any) -> list[tuple[str, str]]:
    from PIL import IptcImagePlugin

    info = IptcImagePlugin.getiptcinfo(image) or {}
    out = []
    for key, field in (((2, 105), "IPTC Headline"), ((2, 120), "IPTC Caption-Abstract")):
        value = info.get(key)
        if isinstance(value, list):
            value = value[0] if value else None
        if isinstance(value, bytes):
            value = value.decode("utf-8", errors="replace")
        if value:
            out.append((field, value))
    return out


def _png(image: Any) -> list[tuple[str, str]]:
    text = getattr(image, "text", None) or {}
    return [(f"PNG {key}", str(text[key])) for key in ("Title", "Description") if text.get(key)]
