"""A real OpenLineage HTTP backend on 127.0.0.1 that records what it receives."""

from __future__ import annotations

import contextlib
import gzip
import json
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"  # keep-alive, as a real backend offers

    def setup(self) -> None:
        super().setup()
        # Without it, every small response waits for the client's delayed ACK (~40 ms).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        backend = self.server.backend
        if self.path in backend.moved:
            status, location = backend.moved[self.path]
            self.send_response(status)
            self.send_header("Location", location)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if backend.delay:
            backend.released.wait(backend.delay)  # a slow backend, or one that hangs
        with backend.lock:
            backend.requests += 1
            if backend.accept_limit is not None and len(backend.received) >= backend.accept_limit:
                status = 503
            else:
                status = backend.status
            payload = json.loads(body) if status == 200 else None
            # POST /api/v1/lineage/batch takes a JSON array of events (the spec's batch API)
            events = payload if isinstance(payload, list) else [payload]
            refused = [e for e in events if _job_of(e) in backend.refuse_jobs]
            answer: dict[str, str] = {}
            if backend.max_batch is not None and len(events) > backend.max_batch:
                status, answer = 413, {"error": "request entity too large"}
            elif refused:
                status = 400
                answer = {"error": f"job {refused[0]['job']['name']} is not allowed here"}
                backend.refused.extend(refused)
            if status == 200:
                backend.received.extend(events)
                headers = dict(self.headers)  # one request's headers, shared by its events
                backend.headers.extend(headers for _ in events)
                backend.paths.append(self.path)
        payload = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _job_of(event: Any) -> str | None:
    """The Dagster job an event is of (`job` of a `job.step`)."""
    if not isinstance(event, dict) or "job" not in event:
        return None
    return str(event["job"]["name"]).split(".")[0]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, backend: LineageBackend, port: int) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.backend = backend
        self.connections: set[socket.socket] = set()
        # A client that goes away between the poll and the accept (a killed daemon) would leave
        # a blocking accept waiting for the next one, and `shutdown` waiting forever on it; with
        # a timeout, the accept gives up and the serving loop sees the shutdown. (The sockets
        # accepted are blocking still.)
        self.socket.settimeout(1.0)

    def process_request(self, request: Any, client_address: Any) -> None:
        self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        self.connections.discard(request)
        super().shutdown_request(request)

    def drop_connections(self) -> None:
        """What a backend going down does to its clients' open keep-alive connections."""
        for connection in list(self.connections):
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
                connection.close()


class LineageBackend:
    """Accepts `POST /api/v1/lineage` (one event) and `POST /api/v1/lineage/batch` (a JSON array),
    as the OpenLineage API defines them; `status` makes it answer errors."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.received: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.paths: list[str] = []
        """The path of each accepted request."""
        self.requests = 0
        self.status = 200
        self.accept_limit: int | None = None
        """Once this many events were received, answer 503 to every request."""
        self.moved: dict[str, tuple[int, str]] = {}
        """Paths answered with a redirect: path -> (status, Location)."""
        self.max_batch: int | None = None
        """More events than this in one request: HTTP 413, as a proxy's body limit."""
        self.refuse_jobs: set[str] = set()
        """Jobs whose events (and their steps') it refuses as invalid: HTTP 400, with why."""
        self.refused: list[dict[str, Any]] = []
        """The events of those jobs it refused."""
        self.delay = 0.0
        """Seconds to wait before answering each request (a large one: a backend that hangs,
        until `stop`)."""
        self.released = threading.Event()
        self.tls: ssl.SSLContext | None = None
        """Serve HTTPS with this context (set before `start`)."""
        self._server: _Server | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.released.clear()
        self._server = _Server(self, self.port)
        if self.tls is not None:
            self._server.socket = self.tls.wrap_socket(self._server.socket, server_side=True)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        """Close the listening socket: connections are refused until `start()`."""
        self.released.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server.drop_connections()
            self._server = None


@contextmanager
def running_backend() -> Iterator[LineageBackend]:
    backend = LineageBackend()
    backend.start()
    try:
        yield backend
    finally:
        backend.stop()


def http_without_client_retries(monkeypatch: pytest.MonkeyPatch, backend: LineageBackend) -> None:
    """The HTTP transport through OPENLINEAGE__ variables, without the client's own retries, so
    that a failure reaches ol-dagster at once."""
    monkeypatch.delenv("OPENLINEAGE_URL", raising=False)
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__TYPE", "http")
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__URL", backend.url)
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__RETRY__TOTAL", "0")
