"""Remote images, only when asked for (``--fetch-remote``), under a policy.

- http and https only, also after a redirect (never ``file:`` or any other scheme);
- every address the host resolves to must be public, unless the policy says ``allow_private``
  (the option ``remote_allow_private``): no loopback, private, link-local, multicast, reserved or
  unspecified address, nor an IPv6 address that carries one of those IPv4 addresses, so that a
  page cannot make alttext read the machine's own services;
- the connection goes to an address that was checked: the name is resolved once per request
  and never again (a DNS server that answers a public address first and a private one next does
  not get through), with the name kept for the Host header, TLS SNI and the certificate check;
- no proxy (a proxy resolves the name itself, so the check would not hold);
- a timeout, a size cap read in chunks (a lying Content-Length does not help), and an ``image/*``
  content type.
"""

from __future__ import annotations

import functools
import http.client
import ipaddress
import socket
import ssl
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from alttext.model import RemotePolicy

_MAX_REDIRECTS = 5
# IPv6 ranges whose last 32 bits are the IPv4 address reached (besides IPv4-mapped and 6to4).
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class RemoteError(Exception):
    pass


def _check_url(url: str) -> urllib.parse.SplitResult:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise RemoteError(f"refused a redirect to a {parts.scheme or 'relative'} URL")
    if not parts.hostname:
        raise RemoteError("no host in the URL")
    return parts


def _public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and (address in _IPV4_COMPATIBLE or address in _NAT64):
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None and not _public(embedded):
            return False
    return address.is_global and not address.is_multicast


def _addresses(url: str, policy: RemotePolicy) -> list[str]:
    """The addresses ``url``'s host resolves to, each one allowed by the policy."""
    parts = _check_url(url)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise RemoteError("the URL's port is not a number from 0 to 65535") from None
    try:
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise RemoteError(f"cannot resolve {parts.hostname}: {exc.strerror}") from None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not policy.allow_private:
        for text in addresses:
            address = ipaddress.ip_address(text.split("%", 1)[0])
            if not _public(address):
                raise RemoteError(
                    f"{parts.hostname} resolves to {address}, a private or local address (set remote_allow_private to allow it)"
                )
    return addresses


def _connect(addresses: list[str], port: int, timeout: Any, source: Any) -> socket.socket:
    """A connection to the first of ``addresses`` that answers (numbers: nothing is resolved)."""
    error: OSError | None = None
    for address in addresses:
        try:
            return socket.create_connection((address, port), timeout, source)
        except OSError as exc:
            error = exc
    assert error is not None  # a name resolves to one address at least
    raise error


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host: str, *, addresses: list[str], **kw: Any) -> None:
        super().__init__(host, **kw)
        self.addresses = addresses

    def connect(self) -> None:
        self.sock = _connect(self.addresses, self.port, self.timeout, self.source_address)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host: str, *, addresses: list[str], context: ssl.SSLContext, **kw: Any) -> None:
        super().__init__(host, context=context, **kw)
        self.addresses, self.tls = addresses, context

    def connect(self) -> None:
        sock = _connect(self.addresses, self.port, self.timeout, self.source_address)
        # SNI and the certificate check use the name in the URL, not the address.
        self.sock = self.tls.wrap_socket(sock, server_hostname=self.host)


class _PinnedHTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, policy: RemotePolicy) -> None:
        super().__init__()
        self.policy = policy

    def http_open(self, req: urllib.request.Request) -> Any:
        # Checked here, where each request (a redirect's too) connects, and nowhere else.
        pinned = functools.partial(_PinnedHTTPConnection, addresses=_addresses(req.full_url, self.policy))
        return self.do_open(pinned, req)


class _PinnedHTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, policy: RemotePolicy) -> None:
        self.tls = ssl.create_default_context()
        super().__init__(context=self.tls)
        self.policy = policy

    def https_open(self, req: urllib.request.Request) -> Any:
        pinned = functools.partial(_PinnedHTTPSConnection, addresses=_addresses(req.full_url, self.policy), context=self.tls)
        return self.do_open(pinned, req)


class _Redirects(urllib.request.HTTPRedirectHandler):
    max_redirections = _MAX_REDIRECTS

    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> Any:
        _check_url(newurl)  # urllib itself would follow ftp:; the address is checked on connecting
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def fetch(url: str, policy: RemotePolicy) -> bytes:
    """The image bytes at ``url``, or RemoteError saying why not."""
    _check_url(url)
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({}), _PinnedHTTPHandler(policy), _PinnedHTTPSHandler(policy), _Redirects()
    )
    opener.addheaders = [("User-Agent", "alttext"), ("Accept", "image/*")]
    try:
        with opener.open(url, timeout=policy.timeout) as response:
            kind = response.headers.get_content_type()
            if not kind.startswith("image/"):
                raise RemoteError(f"the server sent {kind}, not an image")
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > policy.max_image_size:
                raise RemoteError(f"the image is {declared} bytes, over max_image_size ({policy.max_image_size})")
            data = response.read(policy.max_image_size + 1)
            if len(data) > policy.max_image_size:
                raise RemoteError(f"the image is over max_image_size ({policy.max_image_size} bytes)")
            return data
    except urllib.error.HTTPError as exc:
        raise RemoteError(f"the server answered {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, RemoteError):
            raise reason from None
        raise RemoteError(f"cannot fetch it: {reason}") from None
    except (TimeoutError, socket.timeout):
        raise RemoteError(f"no answer within {policy.timeout:g} seconds") from None
