"""Remote images under the policy: private and local addresses refused in every spelling, and the
connection made to the very address that was checked (DNS rebinding), over http and https."""

from __future__ import annotations

import http.server
import ipaddress
import os
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import pytest

from alttext.fixing import remote
from alttext.model import Settings
from alttext.fixing.remote import RemoteError, fetch

POLICY = Settings(timeout=5.0).remote
GOOD = b"\x89PNG the image at the checked address"
EVIL = b"\x89PNG what the second answer would have served"


@pytest.mark.parametrize(
    ("url", "host", "address"),
    [
        pytest.param("http://127.0.0.1/a.png", "127.0.0.1", "127.0.0.1", id="loopback"),
        pytest.param("http://localhost/a.png", "localhost", "127.0.0.1", id="localhost"),
        pytest.param("http://127.1/a.png", "127.1", "127.0.0.1", id="short-form"),
        pytest.param("http://0x7f000001/a.png", "0x7f000001", "127.0.0.1", id="hex"),
        pytest.param("http://2130706433/a.png", "2130706433", "127.0.0.1", id="decimal"),
        pytest.param("http://0177.0.0.1/a.png", "0177.0.0.1", "127.0.0.1", id="octal"),
        pytest.param("http://0/a.png", "0", "0.0.0.0", id="zero"),
        pytest.param("http://0.0.0.0/a.png", "0.0.0.0", "0.0.0.0", id="unspecified"),
        pytest.param("http://[::1]/a.png", "::1", "::1", id="ipv6-loopback"),
        pytest.param("http://[0:0:0:0:0:0:0:1]/a.png", "0:0:0:0:0:0:0:1", "::1", id="ipv6-loopback-long"),
        pytest.param("http://[::]/a.png", "::", "::", id="ipv6-unspecified"),
        pytest.param("http://[::ffff:127.0.0.1]/a.png", "::ffff:127.0.0.1", "::ffff:7f00:1", id="ipv4-mapped"),
        pytest.param("http://[::ffff:7f00:1]/a.png", "::ffff:7f00:1", "::ffff:7f00:1", id="ipv4-mapped-hex"),
        pytest.param("http://[::ffff:10.0.0.1]/a.png", "::ffff:10.0.0.1", "::ffff:a00:1", id="ipv4-mapped-private"),
        pytest.param("http://[::127.0.0.1]/a.png", "::127.0.0.1", "::7f00:1", id="ipv4-compatible"),
        pytest.param("http://[2002:7f00:1::]/a.png", "2002:7f00:1::", "2002:7f00:1::", id="6to4"),
        pytest.param("http://[64:ff9b::a00:1]/a.png", "64:ff9b::a00:1", "64:ff9b::a00:1", id="nat64"),
        pytest.param("http://10.0.0.1/a.png", "10.0.0.1", "10.0.0.1", id="private-10"),
        pytest.param("http://172.16.0.1/a.png", "172.16.0.1", "172.16.0.1", id="private-172"),
        pytest.param("http://192.168.1.1/a.png", "192.168.1.1", "192.168.1.1", id="private-192"),
        pytest.param("http://169.254.169.254/latest/meta-data/", "169.254.169.254", "169.254.169.254", id="cloud-metadata"),
        pytest.param("http://100.64.0.1/a.png", "100.64.0.1", "100.64.0.1", id="shared-cgnat"),
        pytest.param("http://198.18.0.1/a.png", "198.18.0.1", "198.18.0.1", id="benchmarking"),
        pytest.param("http://[fe80::1]/a.png", "fe80::1", "fe80::1", id="link-local"),
        pytest.param("http://[fc00::1]/a.png", "fc00::1", "fc00::1", id="unique-local"),
        pytest.param("http://224.0.0.1/a.png", "224.0.0.1", "224.0.0.1", id="multicast"),
        pytest.param("http://255.255.255.255/a.png", "255.255.255.255", "255.255.255.255", id="broadcast"),
        pytest.param("http://240.0.0.1/a.png", "240.0.0.1", "240.0.0.1", id="reserved"),
        pytest.param("http://127.0.0.1:8080/a.png", "127.0.0.1", "127.0.0.1", id="port"),
        pytest.param("http://user:pw@127.0.0.1/a.png", "127.0.0.1", "127.0.0.1", id="userinfo"),
        pytest.param("https://127.0.0.1/a.png", "127.0.0.1", "127.0.0.1", id="https"),
    ],
)
def test_private_and_local_addresses_are_refused(url: str, host: str, address: str) -> None:
    with pytest.raises(RemoteError) as info:
        fetch(url, POLICY)
    assert str(info.value) == f"{host} resolves to {address}, a private or local address (set remote_allow_private to allow it)"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        pytest.param("ftp://example.com/a.png", "refused a redirect to a ftp URL", id="ftp"),
        pytest.param("http:///a.png", "no host in the URL", id="no-host"),
        pytest.param("http://example.com:99999/a.png", "the URL's port is not a number from 0 to 65535", id="bad-port"),
    ],
)
def test_unusable_urls(url: str, message: str) -> None:
    with pytest.raises(RemoteError) as info:
        fetch(url, POLICY)
    assert str(info.value) == message


class _Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802
        self.server.hosts.append(self.headers["Host"])  # type: ignore[attr-defined]
        if self.path == "/to-private.png":
            self.send_response(302)
            self.send_header("Location", f"http://private.test:{self.server.server_address[1]}/a.png")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = self.server.body  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@contextmanager
def _server(address: str, port: int, body: bytes, tls: ssl.SSLContext | None = None) -> Iterator[http.server.ThreadingHTTPServer]:
    server = http.server.ThreadingHTTPServer((address, port), _Handler)
    server.body, server.hosts = body, []  # type: ignore[attr-defined]
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def rebinding(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """A resolver that answers 127.0.0.1 for ``*.test`` the first time and 127.0.0.2 after (an
    attacker's DNS), ``private.test`` always 127.0.0.2; and a policy for which only 127.0.0.1 is
    public, so that the check passes and only a second resolution could reach 127.0.0.2."""
    real = socket.getaddrinfo
    asked: dict[str, int] = {}

    def getaddrinfo(host: str, port: Any, *args: Any, **kw: Any) -> Any:
        if not str(host).endswith(".test"):
            return real(host, port, *args, **kw)
        asked[host] = asked.get(host, 0) + 1
        answer = "127.0.0.1" if asked[host] == 1 and host != "private.test" else "127.0.0.2"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answer, int(port)))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(remote, "_public", lambda address: address == ipaddress.ip_address("127.0.0.1"))
    return asked


@contextmanager
def _two_servers(tls: ssl.SSLContext | None = None) -> Iterator[tuple[int, http.server.ThreadingHTTPServer]]:
    """The checked server on 127.0.0.1 and, on the same port, the one a second answer reaches."""
    with _server("127.0.0.1", 0, GOOD, tls) as good, ExitStack() as stack:
        port = good.server_address[1]
        try:
            stack.enter_context(_server("127.0.0.2", port, EVIL, tls))
        except OSError:
            pytest.skip("127.0.0.2 is not a local address here")
        yield port, good


def test_the_connection_goes_to_the_checked_address(rebinding: dict[str, int]) -> None:
    with _two_servers() as (port, good):
        assert fetch(f"http://images.test:{port}/a.png", POLICY) == GOOD
    assert rebinding == {"images.test": 1}  # resolved once: what was checked is what was reached
    assert good.hosts == [f"images.test:{port}"]  # the Host header names the site, not the address


def test_a_redirect_is_checked_where_it_connects(rebinding: dict[str, int]) -> None:
    with _two_servers() as (port, _):
        with pytest.raises(RemoteError) as info:
            fetch(f"http://images.test:{port}/to-private.png", POLICY)
    assert str(info.value) == "private.test resolves to 127.0.0.2, a private or local address (set remote_allow_private to allow it)"


def test_https_keeps_the_name_for_sni_and_the_certificate(rebinding: dict[str, int], tmp_path: os.PathLike[str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("no openssl to make a certificate")
    cert, key = os.path.join(str(tmp_path), "cert.pem"), os.path.join(str(tmp_path), "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
                    "-subj", "/CN=images.test", "-addext", "subjectAltName=DNS:images.test", "-keyout", key, "-out", cert],
                   check=True, capture_output=True, timeout=60)
    monkeypatch.setenv("SSL_CERT_FILE", cert)  # the client trusts this certificate alone
    names: list[str | None] = []
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    tls.sni_callback = lambda sock, name, context: names.append(name)  # type: ignore[assignment,misc,func-returns-value]
    with _two_servers(tls) as (port, good):
        assert fetch(f"https://images.test:{port}/a.png", POLICY) == GOOD
        # The certificate is still checked against the name: another name on that address fails.
        with pytest.raises(RemoteError):
            fetch(f"https://other.test:{port}/a.png", POLICY)
    assert rebinding == {"images.test": 1, "other.test": 1} and names == ["images.test", "other.test"]
    assert good.hosts == [f"images.test:{port}"]
