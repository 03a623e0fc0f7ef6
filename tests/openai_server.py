"""A real OpenAI-protocol HTTP server on 127.0.0.1 for tests: scripted answers, recorded requests.

Chat messages may carry pictures as OpenAI sends them (``content`` a list of ``{"type": "text"}``
and ``{"type": "image_url", "image_url": {"url": "data:image/png;base64,..."}}`` parts). A request
with a picture is answered from ``image_replies`` (a vision model), one without from ``replies``;
a picture that is not a base64 PNG, JPEG, WebP or GIF data URL is refused with 400, as servers do.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Script:
    """Replies, used in order (the last one repeats): (status, content or error, delay seconds).
    Content given as bytes is sent as the whole body, as it is (a malformed server)."""

    replies: list[tuple[int, str | bytes, float]] = field(default_factory=lambda: [(200, "A dog on grass.", 0.0)])
    models: list[str] = field(default_factory=lambda: ["qwen3-0.6b"])
    # Replies to requests that carry a picture (None: ``replies``). A model that takes no images:
    # [(500, "image input is not supported", 0.0)], as llama.cpp's server says without --mmproj.
    image_replies: list[tuple[int, str | bytes, float]] | None = None
    requests: list[dict[str, Any]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)  # every picture's data URL, in the order they came
    lock: threading.Lock = field(default_factory=threading.Lock)
    answered: dict[bool, int] = field(default_factory=lambda: {False: 0, True: 0})
    in_flight: int = 0
    most_in_flight: int = 0  # the most chat requests it was answering at once

    def next(self, pictures: bool) -> tuple[int, str | bytes, float]:
        replies = self.image_replies if pictures and self.image_replies is not None else self.replies
        with self.lock:
            n = self.answered[pictures]
            self.answered[pictures] += 1
            return replies[min(n, len(replies) - 1)]

    def with_images(self) -> list[dict[str, Any]]:
        """The requests that carried a picture."""
        return [r for r in self.requests if r["images"]]


_DATA_URL = re.compile(r"data:image/(png|jpeg|webp|gif);base64,([A-Za-z0-9+/=]+)")


def pictures(body: dict[str, Any]) -> list[str]:
    """The data URLs of the pictures in a chat request; ValueError for a part a server refuses."""
    urls = []
    for message in body.get("messages", []):
        content = message.get("content")
        if isinstance(content, str):
            continue
        for part in content:
            if part.get("type") == "text" and isinstance(part.get("text"), str):
                continue
            if part.get("type") != "image_url":
                raise ValueError(f"unknown content part {part.get('type')!r}")
            url = part["image_url"]["url"]
            match = _DATA_URL.fullmatch(url)
            if match is None:
                raise ValueError("invalid image URL: expected a base64 data URL")
            try:
                base64.b64decode(match.group(2), validate=True)
            except binascii.Error:
                raise ValueError("invalid base64 image") from None
            urls.append(url)
    return urls


def decode(url: str) -> tuple[str, bytes]:
    """(media type, bytes) of a data URL."""
    head, data = url.split(",", 1)
    return head[len("data:") : -len(";base64")], base64.b64decode(data)


def _handler(script: Script) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, status: int, body: dict[str, Any] | bytes) -> None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            script.paths.append(self.path)
            if self.path == "/v1/models":
                self._send(200, {"object": "list", "data": [{"id": m, "object": "model", "owned_by": "test"} for m in script.models]})
            else:
                self._send(404, {"error": {"message": "not found"}})

        def do_POST(self) -> None:
            script.paths.append(self.path)
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            try:
                urls = pictures(body)
                bad = ""
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                urls, bad = [], str(exc) or "invalid content"
            with script.lock:
                script.requests.append({"body": body, "auth": self.headers.get("Authorization"), "images": urls, "host": self.headers.get("Host")})
                script.images.extend(urls)
            if self.path != "/v1/chat/completions":
                self._send(404, {"error": {"message": f"no route {self.path}"}})
                return
            if bad:
                self._send(400, {"error": {"message": bad, "type": "invalid_request_error", "code": 400}})
                return
            status, content, delay = script.next(bool(urls))
            with script.lock:
                script.in_flight += 1
                script.most_in_flight = max(script.most_in_flight, script.in_flight)
            time.sleep(delay)
            with script.lock:
                script.in_flight -= 1
            if isinstance(content, bytes):
                self._send(status, content)
                return
            if status != 200:
                self._send(status, {"error": {"message": content, "type": "error", "code": status}})
                return
            self._send(200, {
                "id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}],
            })

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up on a slow reply (the timeout tests) closes its socket; expected.
        pass


@contextmanager
def serve(script: Script, port: int = 0) -> Iterator[str]:
    """Yields the base URL (without /v1) of a server that stops when the block ends (``port`` 0: any free one)."""
    server = _Server(("127.0.0.1", port), _handler(script))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
