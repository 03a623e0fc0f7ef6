"""A real OpenAI-protocol HTTP server on 127.0.0.1 for tests: scripted answers, recorded requests."""

from __future__ import annotations

import json
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
    requests: list[dict[str, Any]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next(self) -> tuple[int, str | bytes, float]:
        with self.lock:
            n = len(self.requests) - 1
            return self.replies[min(n, len(self.replies) - 1)]


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
            with script.lock:
                script.requests.append({"body": body, "auth": self.headers.get("Authorization")})
            if self.path != "/v1/chat/completions":
                self._send(404, {"error": {"message": f"no route {self.path}"}})
                return
            status, content, delay = script.next()
            time.sleep(delay)
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
def serve(script: Script) -> Iterator[str]:
    """Yields the base URL (without /v1) of a server that stops when the block ends."""
    server = _Server(("127.0.0.1", 0), _handler(script))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
