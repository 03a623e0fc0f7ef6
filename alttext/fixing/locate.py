"""From an image's ``src`` to a file the pipeline can describe, or a reason why not.

- A relative ``src`` resolves against the document's folder; a root-relative one (``/img/a.png``)
  against the site root (Jekyll's ``source`` folder) and the folders the site serves at its root
  (``site_root`` and ``static_dirs``, with each engine's defaults). Query and fragment are dropped,
  and percent-encoding is decoded.
- ``srcset`` and ``<picture>`` sources: the largest raster candidate is described.
- ``data:`` URIs are decoded in memory, up to ``max_image_size``.
- ``http(s)`` only with ``fetch_remote`` (see ``alttext.fixing.remote``).
- Anything that resolves outside the project root (``../../etc/passwd``, a symlink out) is
  refused; so are ``file:`` URLs (a path on one computer) and ``javascript:`` ones (a script).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass

from alttext import messages
from alttext.model import ImageSources
from alttext.fixing.remote import RemoteError, fetch
from alttext.scan.engines import site_for

_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*):")
_DATA = re.compile(r"^data:([^,;]*)((?:;[^,;]*)*),(.*)\Z", re.DOTALL | re.IGNORECASE)
_VECTOR = (".svg", ".svgz")
# Folders a site serves at its root, by engine (relative to the site's folder).
_STATIC = {"hugo": ("static", "assets"), "mdx": ("static",), "jekyll": (), "mkdocs": ()}
_PLAIN_STATIC = ("static", "public")


@dataclass(frozen=True)
class Resolved:
    path: str | None  # a local file to describe
    reason: str | None = None  # why there is none
    missing: tuple[str, ...] = ()  # the local files looked for, when none was there (absolute)


@dataclass(frozen=True)
class Candidate:
    url: str
    width: float  # w descriptor, or 0
    density: float  # x descriptor (1 when none is given)
    type: str = ""  # the <source type>, if any


def parse_srcset(value: str, type_: str = "") -> list[Candidate]:
    """``a.png 480w, b.png 2x`` -> candidates, as the HTML standard splits them: a URL runs to
    whitespace (so the comma of a data: URI stays in it), its descriptors to the next comma."""
    out, i, n = [], 0, len(value)
    while i < n:
        while i < n and (value[i].isspace() or value[i] == ","):
            i += 1
        start = i
        while i < n and not value[i].isspace():
            i += 1
        url, descriptor = value[start:i], ""
        if url.endswith(","):
            url = url.rstrip(",")
        else:
            end = value.find(",", i)
            end = n if end == -1 else end
            descriptor, i = value[i:end].strip().lower(), end + 1
        if not url:
            continue
        width = density = 0.0
        try:
            if descriptor.endswith("w"):
                width = float(descriptor[:-1])
            elif descriptor.endswith("x"):
                density = float(descriptor[:-1])
        except ValueError:
            pass
        out.append(Candidate(url, width, density or 1.0, type_))
    return out


def largest_raster(candidates: Sequence[Candidate]) -> str | None:
    """The largest candidate that is not a vector image (None if there is none)."""
    raster = [
        c
        for c in candidates
        if "svg" not in c.type.lower() and not urllib.parse.urlsplit(c.url).path.lower().endswith(_VECTOR)
        and not c.url.lower().startswith("data:image/svg")
    ]
    if not raster:
        return None
    return max(raster, key=lambda c: (c.width, c.density)).url


class Resolver:
    """Resolves sources for one run; remote and data: images are kept in ``workdir``."""

    def __init__(self, sources: ImageSources, workdir: str) -> None:
        self.sources = sources
        self.root = os.path.realpath(sources.root)
        self.workdir = workdir
        self._remote: dict[str, Resolved] = {}

    def resolve(self, src: str, document: str) -> Resolved:
        src = src.strip()
        if not src:
            return Resolved(None, "the image has no src")
        if src.lower().startswith("data:"):
            return self._data(src)
        scheme = _SCHEME.match(src)
        if src.startswith("//") or (scheme and scheme.group(1).lower() in ("http", "https")):
            url = "https:" + src if src.startswith("//") else src
            if not self.sources.fetch_remote:
                return Resolved(None, "a remote image; run with --fetch-remote to describe it")
            if url not in self._remote:
                self._remote[url] = self._fetch(url)
            return self._remote[url]
        if scheme and len(scheme.group(1)) > 1:  # C:\ is a drive, not a scheme
            name = scheme.group(1).lower()
            if name in ("javascript", "vbscript"):
                return Resolved(None, messages.LOCATE_SCRIPT_URL.format(scheme=name))
            if name == "file":
                return Resolved(None, messages.LOCATE_FILE_URL)
            return Resolved(None, f"{scheme.group(1)}: URLs are not images alttext can read")
        path = urllib.parse.unquote(re.split(r"[?#]", src, maxsplit=1)[0])
        if not path:
            return Resolved(None, "the src names no file")
        if path.startswith("/"):
            tried = [os.path.join(base, path.lstrip("/")) for base in self._bases(document)]
        else:
            tried = [os.path.join(os.path.dirname(os.path.abspath(document)), path)]
        for candidate in tried:
            real = os.path.realpath(candidate)
            if real != self.root and not real.startswith(self.root.rstrip(os.sep) + os.sep):
                return Resolved(None, "the src resolves outside the project root; refused")
            if os.path.isfile(real):
                return Resolved(candidate)
        shown = ", ".join(os.path.relpath(t, self.root) for t in tried)
        return Resolved(None, f"image not found (looked for {shown})", tuple(os.path.abspath(t) for t in tried))

    def _bases(self, document: str) -> list[str]:
        """Folders that ``/`` maps to for ``document``: the site root, then its static folders."""
        site = site_for(os.path.dirname(os.path.abspath(document)))
        if self.sources.site_root:
            base = os.path.join(self.root, self.sources.site_root)
        else:
            base = (site.served or site.root) if site else self.root
        bases = [base]
        if site is not None and site.engine == "mkdocs":
            bases.extend(site.content)  # docs_dir is served at the root
        statics = self.sources.static_dirs or (_STATIC.get(site.engine, ()) if site else _PLAIN_STATIC)
        bases.extend(os.path.join(base, s) for s in statics)
        return bases

    def _store(self, data: bytes, suffix: str) -> str:
        path = os.path.join(self.workdir, hashlib.sha256(data).hexdigest()[:32] + suffix)
        if not os.path.exists(path):
            with open(path, "wb") as f:
                f.write(data)
        return path

    def _data(self, src: str) -> Resolved:
        m = _DATA.match(src)
        if not m:
            return Resolved(None, "a malformed data: URI")
        kind, params, payload = m.group(1).strip().lower(), m.group(2).lower(), m.group(3)
        limit = self.sources.remote.max_image_size
        # base64 takes 4 characters for 3 bytes: refuse oversized payloads before decoding.
        if len(payload) * 3 // 4 > limit + 3:
            return Resolved(None, f"the data: URI is over max_image_size ({limit} bytes)")
        try:
            if ";base64" in params:
                data = base64.b64decode("".join(urllib.parse.unquote(payload).split()), validate=True)
            else:
                data = urllib.parse.unquote_to_bytes(payload)
        except (binascii.Error, ValueError):
            return Resolved(None, "the data: URI is not valid base64")
        if len(data) > limit:
            return Resolved(None, f"the data: URI is over max_image_size ({limit} bytes)")
        if kind and not kind.startswith("image/"):
            return Resolved(None, f"the data: URI holds {kind}, not an image")
        return Resolved(self._store(data, ".svg" if "svg" in kind else ""))

    def _fetch(self, url: str) -> Resolved:
        try:
            data = fetch(url, self.sources.remote)
        except RemoteError as exc:
            return Resolved(None, f"remote image not fetched: {exc}")
        path = urllib.parse.urlsplit(url).path.lower()
        return Resolved(self._store(data, ".svg" if path.endswith(_VECTOR) else ""))
