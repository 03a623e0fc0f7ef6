"""Remote images, only when asked for (``--fetch-remote``), under a policy.

- http and https only, also after a redirect (never ``file:`` or any other scheme);
- every address the host resolves to must be public, unless ``remote_allow_private``: no
  loopback, private, link-local, multicast, reserved or unspecified address, so that a page
  cannot make alttext read the machine's own services;
- a timeout, a size cap read in chunks (a lying Content-Length does not help), and an ``image/*``
  content type.
"""

from __future__ import annotations

import ipaddress
import socket
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from alttext.model import Settings

_MAX_REDIRECTS = 5


class RemoteError(Exception):
    pass


def _check_host(url: str, settings: Settings) -> None:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise RemoteError(f"refused a redirect to a {parts.scheme or 'relative'} URL")
    if not parts.hostname:
        raise RemoteError("no host in the URL")
    if settings.remote_allow_private:
        return
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80), type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise RemoteError(f"cannot resolve {parts.hostname}: {exc.strerror}") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%", 1)[0])
        if not address.is_global or address.is_multicast:
            raise RemoteError(
                f"{parts.hostname} resolves to {address}, a private or local address (set remote_allow_private to allow it)"
            )


class _Redirects(urllib.request.HTTPRedirectHandler):
    max_redirections = _MAX_REDIRECTS

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> Any:
        _check_host(newurl, self.settings)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def fetch(url: str, settings: Settings) -> bytes:
    """The image bytes at ``url``, or RemoteError saying why not."""
    _check_host(url, settings)
    opener = urllib.request.build_opener(_Redirects(settings))
    opener.addheaders = [("User-Agent", "alttext"), ("Accept", "image/*")]
    try:
        with opener.open(url, timeout=settings.timeout) as response:
            kind = response.headers.get_content_type()
            if not kind.startswith("image/"):
                raise RemoteError(f"the server sent {kind}, not an image")
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > settings.max_image_size:
                raise RemoteError(f"the image is {declared} bytes, over max_image_size ({settings.max_image_size})")
            data = response.read(settings.max_image_size + 1)
            if len(data) > settings.max_image_size:
                raise RemoteError(f"the image is over max_image_size ({settings.max_image_size} bytes)")
            return data
    except urllib.error.HTTPError as exc:
        raise RemoteError(f"the server answered {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, RemoteError):
            raise reason from None
        raise RemoteError(f"cannot fetch it: {reason}") from None
    except (TimeoutError, socket.timeout):
        raise RemoteError(f"no answer within {settings.timeout:g} seconds") from None
