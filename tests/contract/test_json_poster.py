"""`JsonPoster` against the real backend: the transport's settings on its pool path, and the
cases it leaves to `requests` (a proxy, an adapter of the user's), each seen on the wire."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import BinaryIO

import pytest
import requests
from openlineage.client.transport.http import HttpConfig, HttpTransport, TokenProvider
from requests.adapters import HTTPAdapter

from ol_dagster.adapters import http_batch
from ol_dagster.adapters.http_batch import JsonPoster
from tests.support.backend import LineageBackend

EVENT = json.dumps({"eventType": "START", "job": {"name": "etl", "namespace": "ns"}})


def _transport(backend: LineageBackend, **settings: object) -> HttpTransport:
    transport = HttpTransport(HttpConfig.from_dict({"url": backend.url, **settings}))
    transport.session.mount(backend.url, HTTPAdapter(max_retries=0))  # as the emitter does
    return transport


def _poster(transport: HttpTransport, backend: LineageBackend) -> JsonPoster:
    return JsonPoster(transport, f"{backend.url}/api/v1/lineage")


def test_the_pool_path_sends_the_transports_headers_auth_and_compression(
    backend: LineageBackend,
) -> None:
    transport = _transport(
        backend,
        auth={"type": "api_key", "apiKey": "s3cret-key"},
        custom_headers={"X-Team": "data"},
        compression="gzip",
    )
    poster = _poster(transport, backend)
    poster.post(EVENT)
    poster.post(EVENT)
    assert poster.uses_pool
    assert backend.received == [json.loads(EVENT)] * 2
    headers = backend.headers[0]
    assert headers["Authorization"] == "Bearer s3cret-key"
    assert headers["X-Team"] == "data"
    assert headers["Content-Encoding"] == "gzip"
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"].startswith("python-requests/")  # the session's own headers
    assert backend.paths == ["/api/v1/lineage"] * 2


def test_a_refusal_raises_what_requests_raises_with_the_answer(backend: LineageBackend) -> None:
    backend.refuse_jobs = {"etl"}
    poster = _poster(_transport(backend), backend)
    with pytest.raises(requests.HTTPError) as raised:
        poster.post(EVENT)
    assert raised.value.response is not None
    assert raised.value.response.status_code == 400
    assert "not allowed here" in raised.value.response.text
    assert poster.uses_pool


def test_an_unreachable_backend_raises_a_requests_connection_error(
    backend: LineageBackend,
) -> None:
    poster = _poster(_transport(backend), backend)
    backend.stop()
    with pytest.raises(requests.ConnectionError):
        poster.post(EVENT)


def test_a_proxy_from_the_environment_is_left_to_requests(
    backend: LineageBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The backend stands in for the proxy: the request reaches it with the absolute URL."""
    monkeypatch.setenv("HTTP_PROXY", backend.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    elsewhere = "http://lineage.example.invalid"
    transport = HttpTransport(HttpConfig.from_dict({"url": elsewhere}))
    poster = JsonPoster(transport, f"{elsewhere}/api/v1/lineage")
    poster.post(EVENT)
    assert not poster.uses_pool
    assert backend.paths == [f"{elsewhere}/api/v1/lineage"]


def test_an_adapter_of_the_users_is_left_to_requests(backend: LineageBackend) -> None:
    class Counting(HTTPAdapter):
        sent = 0

        def send(self, *args: object, **kwargs: object) -> requests.Response:  # type: ignore[override]
            Counting.sent += 1
            return super().send(*args, **kwargs)  # type: ignore[arg-type]

    transport = HttpTransport(HttpConfig.from_dict({"url": backend.url, "adapter": Counting()}))
    poster = _poster(transport, backend)
    poster.post(EVENT)
    assert (Counting.sent, poster.uses_pool, len(backend.received)) == (1, False, 1)


def test_gzip_bodies_arrive_whole(backend: LineageBackend) -> None:
    big = json.dumps({"eventType": "START", "padding": "x" * 100_000})
    transport = _transport(backend, compression="gzip")
    _poster(transport, backend).post(big)
    assert backend.received == [json.loads(big)]
    assert backend.headers[0]["Content-Encoding"] == "gzip"


def test_headers_merge_as_requests_merges_them_whatever_their_case(
    backend: LineageBackend,
) -> None:
    """Custom header names from OPENLINEAGE__ variables arrive lowercased: one Authorization
    goes out, the custom one, as requests sends it."""
    transport = _transport(
        backend,
        auth={"type": "api_key", "apiKey": "s3cret-key"},
        custom_headers={"authorization": "Basic b3RoZXI=", "accept": "application/json"},
    )
    poster = _poster(transport, backend)
    poster.post(EVENT)
    assert poster.uses_pool
    sent = backend.headers[0]
    authorizations = [v for k, v in sent.items() if k.lower() == "authorization"]
    accepts = [v for k, v in sent.items() if k.lower() == "accept"]
    assert authorizations == ["Basic b3RoZXI="]
    assert accepts == ["application/json"]


def test_session_auth_or_cookies_are_left_to_requests(backend: LineageBackend) -> None:
    transport = _transport(backend)
    transport.session.cookies.set("AWSALB", "sticky")
    poster = _poster(transport, backend)
    poster.post(EVENT)
    assert not poster.uses_pool
    assert backend.headers[0]["Cookie"] == "AWSALB=sticky"


@pytest.fixture
def tls_backend(tmp_path: Path) -> Iterator[tuple[LineageBackend, Path]]:
    """The backend over HTTPS, its certificate self-signed for 127.0.0.1 (by `openssl`)."""
    if shutil.which("openssl") is None and os.environ.get("CI") != "true":
        pytest.skip("no openssl here to make a certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    command = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
    command.extend(["-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"])
    command.extend(["-addext", "subjectAltName=IP:127.0.0.1"])
    subprocess.run(command, check=True, capture_output=True)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    backend = LineageBackend()
    backend.tls = context
    backend.start()
    try:
        yield backend, cert
    finally:
        backend.stop()


def test_tls_with_the_transports_own_ca_goes_through_the_pool(
    tls_backend: tuple[LineageBackend, Path],
) -> None:
    backend, cert = tls_backend
    poster = _poster(_transport(backend, verify=str(cert)), backend)
    poster.post(EVENT)
    poster.post(EVENT)
    assert poster.uses_pool
    assert backend.received == [json.loads(EVENT)] * 2


def test_a_certificate_nobody_trusts_is_requests_ssl_error(
    tls_backend: tuple[LineageBackend, Path],
) -> None:
    backend, _ = tls_backend
    poster = _poster(_transport(backend), backend)  # verify: requests' CA bundle
    with pytest.raises(requests.exceptions.SSLError):
        poster.post(EVENT)
    assert poster.uses_pool and backend.received == []


# -- several requests in flight, in order (HTTP/1.1 pipelining) ------------------------------


def _events(count: int) -> list[str]:
    return [json.dumps({"eventType": "START", "job": {"name": f"etl{i}"}}) for i in range(count)]


def _all(poster: JsonPoster, texts: list[str], more: Callable[[int], bool] = lambda _: True) -> int:
    return sum(1 for _ in poster.post_in_order(texts, more))


class _RawBackend:
    """An HTTP/1.1 server on a socket of its own, for what `LineageBackend` cannot do: after a
    connection's first answer, answer only once `hold` requests have arrived (a client that
    waits for each answer before the next request never gets one), or close each connection
    after `per_connection` answers, dropping what else was written on it."""

    def __init__(
        self,
        hold: int = 1,
        per_connection: int | None = None,
        abrupt: bool = False,
        answers: dict[int, bytes] | None = None,
        max_body: int | None = None,
    ) -> None:
        self.hold, self.per_connection, self.abrupt = hold, per_connection, abrupt
        self.max_body = max_body
        self.answers = answers or {}
        """The answer to the n-th request (from 0), in place of a 200 with no body; the
        connection is closed after an HTTP/1.0 one."""
        self.bodies: list[tuple[int, str]] = []  # (connection number, body) of each answered
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        for number in itertools.count():
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(connection, number), daemon=True).start()

    def _answer(self, connection: socket.socket, number: int) -> None:
        # a client that stops (at a refusal) closes with answers still to come: not an error
        with connection, connection.makefile("rb") as stream, contextlib.suppress(OSError):
            answered = 0
            while True:
                held: list[str] = []
                while len(held) < (self.hold if answered else 1):  # the first alone
                    head = _head(stream)
                    if head is None:
                        return  # the client closed the connection
                    length = int(re.search(rb"(?i)content-length: *(\d+)", head)[1])  # type: ignore[index]
                    if self.max_body is not None and length > self.max_body:
                        # as a proxy with a body limit: refused unread, the connection closed
                        connection.sendall(_TOO_LARGE)
                        connection.close()
                        return
                    held.append(stream.read(length).decode())
                for body in held:
                    answered += 1
                    last = answered == self.per_connection
                    close = b"Connection: close\r\n" if last else b""
                    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n" + close + b"\r\n"
                    answer = self.answers.get(len(self.bodies), ok)
                    self.bodies.append((number, body))  # before the client can see the answer
                    connection.sendall(answer)
                    last = last or answer.startswith(b"HTTP/1.0")  # closes after it
                    if last:
                        self._linger(connection, stream)
                        return

    def _linger(self, connection: socket.socket, stream: BinaryIO) -> None:
        """Closes as nginx does after its last answer on a connection: the writing side first,
        then what else arrives is read and dropped until the client closes (or, `abrupt`, at
        once with requests unread: the kernel then resets the connection)."""
        if self.abrupt:
            return
        connection.shutdown(socket.SHUT_WR)
        connection.settimeout(5)
        with contextlib.suppress(OSError):
            while stream.read1(65536):
                pass

    def close(self) -> None:
        self._listener.close()


def _head(stream: BinaryIO) -> bytes | None:
    """A request's head, up to the blank line; None at the end of the stream, even mid-head (a
    loop until the blank line would spin on the empty reads of a closed connection)."""
    lines: list[bytes] = []
    while (line := stream.readline()) != b"\r\n":
        if not line:
            return None
        lines.append(line)
    return b"".join(lines)


_TOO_LARGE = (
    b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 24\r\nConnection: close\r\n\r\n"
    b'{"error": "body > 1 MB"}'
)


def _raw_transport(url: str) -> HttpTransport:
    transport = HttpTransport(HttpConfig.from_dict({"url": url, "timeout": 3.0}))
    transport.session.mount(url, HTTPAdapter(max_retries=0))
    return transport


def test_requests_are_written_ahead_of_their_answers_and_arrive_in_order() -> None:
    """After its first answer, the backend answers only once three requests have arrived: one
    request at a time would wait on the second answer until it timed out."""
    backend = _RawBackend(hold=3)
    texts = _events(31)  # the first alone, then 10 threes
    try:
        assert _all(JsonPoster(_raw_transport(backend.url), f"{backend.url}/x"), texts) == 31
    finally:
        backend.close()
    assert [body for _, body in backend.bodies] == texts
    assert {number for number, _ in backend.bodies} == {0}  # one connection


def test_the_unanswered_are_written_again_on_a_new_connection_when_the_backend_closes() -> None:
    """As a backend with a limit of requests per connection (nginx's keepalive_requests): what
    was written after its last answer is dropped with the connection, and sent again."""
    backend = _RawBackend(per_connection=4)
    texts = _events(30)
    try:
        assert _all(JsonPoster(_raw_transport(backend.url), f"{backend.url}/x"), texts) == 30
    finally:
        backend.close()
    assert [body for _, body in backend.bodies] == texts  # each once, in order
    assert len({number for number, _ in backend.bodies}) == 8


def test_a_connection_reset_with_answers_unread_loses_nothing() -> None:
    """A backend that closes without reading what was written resets the connection, and the
    reset may take answers it sent with it: those are sent again (a backend sees them twice,
    the second time in order)."""
    backend = _RawBackend(per_connection=4, abrupt=True)
    texts = _events(30)
    try:
        assert _all(JsonPoster(_raw_transport(backend.url), f"{backend.url}/x"), texts) == 30
    finally:
        backend.close()
    assert list(dict.fromkeys(body for _, body in backend.bodies)) == texts


def test_a_refusal_in_flight_stops_at_it_with_requests_error(backend: LineageBackend) -> None:
    backend.refuse_jobs = {"etl3"}
    texts = _events(10)
    answers = _poster(_transport(backend), backend).post_in_order(texts, lambda _: True)
    assert len(list(itertools.islice(answers, 3))) == 3
    with pytest.raises(requests.HTTPError) as raised:
        next(answers)
    assert raised.value.response is not None and raised.value.response.status_code == 400
    assert "etl3 is not allowed here" in raised.value.response.text
    assert backend.received[:3] == [json.loads(t) for t in texts[:3]]


def test_no_request_is_written_once_more_says_no(backend: LineageBackend) -> None:
    def more(in_flight: int) -> bool:  # two requests, then no more
        return len(backend.received) + in_flight < 2

    assert _all(_poster(_transport(backend), backend), _events(10), more) == 2
    assert [e["job"]["name"] for e in backend.received] == ["etl0", "etl1"]


def test_in_flight_over_tls_with_the_transports_own_ca(
    tls_backend: tuple[LineageBackend, Path],
) -> None:
    backend, cert = tls_backend
    poster = _poster(_transport(backend, verify=str(cert), compression="gzip"), backend)
    assert _all(poster, _events(20)) == 20
    assert poster.uses_pool
    assert [e["job"]["name"] for e in backend.received] == [f"etl{i}" for i in range(20)]


def test_in_flight_to_a_certificate_nobody_trusts_is_requests_ssl_error(
    tls_backend: tuple[LineageBackend, Path],
) -> None:
    backend, _ = tls_backend
    with pytest.raises(requests.exceptions.SSLError):
        _all(_poster(_transport(backend), backend), _events(3))
    assert backend.received == []


def test_in_flight_to_an_unreachable_backend_is_requests_connection_error(
    backend: LineageBackend,
) -> None:
    poster = _poster(_transport(backend), backend)
    backend.stop()
    with pytest.raises(requests.ConnectionError):
        _all(poster, _events(3))


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 400 Bad Request\r\nContent-Length: 21\r\n"
        b'\r\n{"error": "no: etl2"}',
        b"HTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked\r\n\r\n"
        b'b\r\n{"error": "\r\n'
        b'a;ext=1\r\nno: etl2"}\r\n0\r\nX-Trailer: 1\r\n\r\n',
        b'HTTP/1.0 400 Bad Request\r\n\r\n{"error": "no: etl2"}',  # to the end
    ],
    ids=["after-100-continue", "chunked", "http-1.0-to-the-end"],
)
def test_answers_in_flight_are_read_in_each_of_http_s_framings(answer: bytes) -> None:
    """Answers before it, each framed by Content-Length, leave the stream at the next one; a
    refusal is read whole whatever its framing, and raised with its body as requests would."""
    backend = _RawBackend(answers={2: answer})
    answers = JsonPoster(_raw_transport(backend.url), f"{backend.url}/x").post_in_order(
        _events(5), lambda _: True
    )
    try:
        assert len(list(itertools.islice(answers, 2))) == 2
        with pytest.raises(requests.HTTPError) as raised:
            next(answers)
    finally:
        backend.close()
    assert raised.value.response is not None and raised.value.response.status_code == 400
    assert raised.value.response.json() == {"error": "no: etl2"}


def test_a_poster_is_kept_until_the_session_changes_or_it_has_aged(
    backend: LineageBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a poster read of the environment and the session is read again after
    `REOPEN_SECONDS`, or at once when the transport has a new session (the client closed it)."""
    transport = _transport(backend)
    url = f"{backend.url}/api/v1/lineage"
    first = JsonPoster.fresh(None, transport, url)
    assert JsonPoster.fresh(first, transport, url) is first
    assert JsonPoster.fresh(first, transport, f"{backend.url}/other") is not first
    transport.close()  # the next use of `session` makes a new one
    second = JsonPoster.fresh(first, transport, url)
    assert second is not first
    now = time.monotonic()
    later = SimpleNamespace(monotonic=lambda: now + http_batch.REOPEN_SECONDS)
    monkeypatch.setattr(http_batch, "time", later)  # the module's clock alone
    assert JsonPoster.fresh(second, transport, url) is not second


def test_each_request_in_flight_carries_the_token_its_provider_gave(
    backend: LineageBackend,
) -> None:
    """A token provider is asked per request, as the client asks it: a token that changes
    (refreshed) goes out from the next request on."""

    class Rotating(TokenProvider):
        def __init__(self) -> None:
            self.calls = 0

        def get_bearer(self) -> str | None:
            self.calls += 1
            return f"Bearer t{self.calls // 3}"

    transport = _transport(backend)
    transport.config.auth = Rotating()
    assert _all(_poster(transport, backend), _events(7)) == 7
    assert [h["Authorization"] for h in backend.headers] == [
        f"Bearer t{(i + 1) // 3}" for i in range(7)
    ]


def test_a_refusal_answered_before_the_body_was_read_is_the_refusal() -> None:
    """A front end that refuses a body over its limit (413) and closes unread: the write
    fails, yet the answer is there to read; the event is refused (set aside as a dead letter),
    not a connection failure retried tick after tick."""
    backend = _RawBackend(max_body=1_000_000)
    big = json.dumps({"eventType": "START", "padding": "x" * 20_000_000})
    poster = JsonPoster(_raw_transport(backend.url), f"{backend.url}/x")
    try:
        with pytest.raises(requests.HTTPError) as raised:
            _all(poster, [*_events(2), big, *_events(2)])
    finally:
        backend.close()
    assert raised.value.response is not None and raised.value.response.status_code == 413
    assert [body for _, body in backend.bodies] == _events(2)


def test_a_header_with_a_line_break_is_refused_as_requests_refuses_it(
    backend: LineageBackend,
) -> None:
    """A secret read with its trailing newline would end the headers early: nothing is sent."""
    transport = _transport(backend, custom_headers={"X-Team": "data\n"})
    with pytest.raises(requests.exceptions.InvalidHeader):
        _all(_poster(transport, backend), _events(2))
    assert backend.requests == 0
