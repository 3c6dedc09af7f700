"""A notification receiver on 127.0.0.1 for the notify tests: it records every POST that
apprise's `json://127.0.0.1:PORT/...` scheme sends, and can answer slowly or with an error.
`closed_port()` gives a port where nothing listens (an unreachable receiver)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Receiver:
    """What the receiver got, and how it answers the next requests."""

    port: int = 0
    received: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200
    delay: float = 0.0  # seconds before answering
    released: threading.Event = field(default_factory=threading.Event)  # ends a delay early
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str = "hooks/reconciler") -> str:
        return f"json://127.0.0.1:{self.port}/{path}"

    def messages(self) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(m) for m in self.received]


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length)
            with receiver.lock:
                receiver.received.append(
                    {
                        "path": self.path,
                        "content_type": self.headers.get("content-type"),
                        "body": json.loads(raw or b"{}"),
                    }
                )
            if receiver.delay:
                receiver.released.wait(receiver.delay)
            try:
                self.send_response(receiver.status)
                self.send_header("content-length", "0")
                self.end_headers()
            except OSError:
                pass  # the client gave up waiting: that is what a slow receiver tests

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def receiving(*, status: int = 200, delay: float = 0.0) -> Iterator[Receiver]:
    """A receiver serving in a thread until the block ends."""
    receiver = Receiver(status=status, delay=delay)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(receiver))
    server.daemon_threads = True
    receiver.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, name="receiver", daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.released.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens (taken, then let go)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(receiver: Receiver, count: int, *, limit: float = 10.0) -> list[dict[str, Any]]:
    """The messages once `count` have arrived (a guard of `limit` seconds, not a measure)."""
    deadline = time.monotonic() + limit
    while len(receiver.messages()) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    return receiver.messages()
