"""An OpenLineage HTTP transport that can send many events in one request.

openlineage-python sends one event per HTTP request; its per-request cost, not the network or the
backend, bounds how fast a backlog can be caught up. The OpenLineage API also defines
`POST /api/v1/lineage/batch`, which takes a JSON array of events; this transport adds that to the
client's own `HttpTransport`, so URL, auth, TLS, compression and timeouts are configured exactly
as for it; retries are the tick's, as for it (see the README's Delivery). Select it like any
transport class, for example:

    OPENLINEAGE__TRANSPORT__TYPE=ol_dagster.adapters.http_batch.HttpBatchTransport
    OPENLINEAGE__TRANSPORT__URL=http://localhost:5000
    OPENLINEAGE__TRANSPORT__BATCH_SIZE=500

Only for backends that implement the batch endpoint. `emit` of one event behaves as `http`.
"""

from __future__ import annotations

import bisect
import io
import itertools
import math
import socket
import ssl
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from http import client as http_client
from types import SimpleNamespace
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import urljoin

import attr
import requests
import urllib3
from openlineage.client.serde import Serde
from openlineage.client.transport.http import HttpConfig, HttpTransport
from requests.adapters import HTTPAdapter
from requests.cookies import extract_cookies_to_jar
from requests.structures import CaseInsensitiveDict
from requests.utils import check_header_validity, get_encoding_from_headers, select_proxy
from urllib3 import HTTPConnectionPool

if TYPE_CHECKING:
    from openlineage.client.client import Event


@attr.define
class HttpBatchConfig(HttpConfig):
    batch_size: int = attr.field(default=500)
    """Events per request (about 0.6 MB of JSON at 500); the emitter splits longer runs of events
    into batches of this size. `make bench` measured 500 faster than 100."""
    batch_endpoint: str = attr.field(default="api/v1/lineage/batch")

    @batch_size.validator
    def _positive(self, attribute: object, value: int) -> None:
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"batch_size must be a positive integer, not {value!r}")


class HttpBatchTransport(HttpTransport):
    kind = "ol_dagster_http_batch"
    config_class = HttpBatchConfig

    def __init__(self, config: HttpBatchConfig) -> None:
        super().__init__(config)
        self.batch_size = config.batch_size
        self.batch_url = urljoin(self.url, config.batch_endpoint)
        self._poster: JsonPoster | None = None

    def emit_batch(self, events: Sequence[Event]) -> None:
        """POST `events` as one JSON array; raises, as `emit` does, unless they were accepted."""
        self.emit_json([Serde.to_json(event) for event in events])

    def emit_json(self, events: Sequence[str]) -> None:
        """POST events already written as JSON objects, as one JSON array; raises unless they
        were accepted."""
        if events:
            self._poster = JsonPoster.fresh(self._poster, self, self.batch_url)
            self._poster.post("[" + ",".join(events) + "]")


REOPEN_SECONDS = 30.0
"""How long a poster keeps what it read of the environment (proxies, netrc) and the session
(headers, cookies, adapter) before it is made again: reading them costs a millisecond, as much as
several requests."""


class JsonPoster:
    """POSTs JSON texts to one URL with an HTTP transport's settings, as `post_json` does, over
    the connection pool of the transport's own `requests` adapter.

    `requests` spends most of a small request outside the wire: it merges the environment's
    proxies and netrc, prepares, hooks and wraps each request (about 1,100 requests a second
    against a local backend; the pool beneath it about 3,000). The poster does that work once,
    when it is first used (`fresh` keeps one for up to `REOPEN_SECONDS`), and sends each text
    through the adapter's pool with the same headers, auth (a token provider is still asked
    per request), TLS settings and timeout (read per request: the emitter cuts it to the tick's
    deadline), and the adapter's own retry setting; `post_in_order` keeps several requests in
    flight. Where a request needs more than that, it goes through `post_json`: a proxy, an
    adapter or hooks of the user's, session auth or netrc, cookies (from the first answer that
    sets one on), a 307 or 308 redirect. Errors are those `requests` raises, so that they are
    judged alike.
    """

    def __init__(self, transport: HttpTransport, url: str) -> None:
        self._transport, self._url = transport, url
        self._made, self._session = time.monotonic(), transport.session
        self._pool: HTTPConnectionPool | None = None
        self._ready = False
        self.depth = PIPELINE_DEPTH
        """Requests in flight on a connection; 1 after a backend closed one with none answered."""
        self.paced = False
        """An answer has come: more than one request may be in flight."""
        self._headers_written: dict[str, str] | None = None
        self._head, self._host = b"", b""

    @classmethod
    def fresh(cls, poster: JsonPoster | None, transport: HttpTransport, url: str) -> JsonPoster:
        """`poster` while it may go on posting to `url` for `transport`, else a new one: made
        `REOPEN_SECONDS` ago or more, or before the transport's session changed (the client
        closed it), a poster reads the environment and the session again."""
        if (
            poster is not None
            and poster._transport is transport
            and poster._url == url
            and poster._session is transport.session
            and time.monotonic() - poster._made < REOPEN_SECONDS
        ):
            return poster
        return cls(transport, url)

    def open(self) -> None:
        """Looks up the adapter's pool, once, at the first request: after the emitter has
        mounted its adapter (no retries) for the URL."""
        if self._ready:
            return
        self._ready = True
        transport, url = self._transport, self._url
        session = transport.session
        adapter = session.get_adapter(url)
        settings = session.merge_environment_settings(
            url, {}, None, transport.verify, transport.cert
        )
        self._prepared = session.prepare_request(requests.Request("POST", url, data=b"{}"))
        plain = (
            isinstance(adapter, HTTPAdapter)
            and type(adapter) is HTTPAdapter
            and transport.config.adapter is None
            and not any(session.hooks.get("response", ()))
            and not any(self._prepared.hooks.get("response", ()))
            and select_proxy(url, settings["proxies"]) is None
            # auth of the session or netrc (it overrides the transport's header), cookies
            and "Authorization" not in self._prepared.headers
            and "Cookie" not in self._prepared.headers
        )
        if not plain or not isinstance(adapter, HTTPAdapter):
            return
        self._headers = CaseInsensitiveDict(
            {
                k: v if isinstance(v, str) else v.decode("latin-1")
                for k, v in self._prepared.headers.items()
                if k.lower() not in ("content-length", "content-type")
            }
        )
        self._adapter = adapter
        pool = adapter.get_connection_with_tls_context(
            self._prepared, settings["verify"], proxies=settings["proxies"], cert=settings["cert"]
        )
        adapter.cert_verify(pool, url, settings["verify"], settings["cert"])  # as `send` does
        self._pool = pool
        self._path = adapter.request_url(self._prepared, settings["proxies"])

    @property
    def uses_pool(self) -> bool:
        """Whether its requests go through the pool (else through `post_json`)."""
        return self._pool is not None

    def post(self, text: str) -> None:
        """Raises unless the backend accepted it (a 2xx answer)."""
        self.open()
        if self._pool is None:
            post_json(self._transport, self._url, text)
            return
        # As the client's own transport does: a raised debug level would log the auth header.
        previous = http_client.HTTPConnection.debuglevel
        http_client.HTTPConnection.debuglevel = 0
        try:
            body, headers = self._transport._prepare_request(text)
            try:
                answer = self._pool.urlopen(
                    "POST",
                    self._path,
                    body=body,
                    headers=CaseInsensitiveDict({**self._headers, **headers}),
                    redirect=False,
                    assert_same_host=False,
                    preload_content=False,
                    decode_content=False,
                    retries=self._adapter.max_retries,
                    timeout=self._transport.timeout,
                )
            except (urllib3.exceptions.HTTPError, OSError) as error:
                raise _as_requests_error(error, self._prepared) from error
            if 200 <= answer.status < 300:
                answer.drain_conn()
                answer.release_conn()
                if "Set-Cookie" in answer.headers:  # kept, and sent from now on, by requests
                    extract_cookies_to_jar(self._transport.session.cookies, self._prepared, answer)
                    self._pool = None
                return
            response = self._adapter.build_response(self._prepared, answer)
            response.content  # noqa: B018  (read, as requests does, before the connection goes)
        finally:
            http_client.HTTPConnection.debuglevel = previous
        response.close()
        if response.status_code in (307, 308):
            post_json(self._transport, self._url, text)  # followed (or refused) as requests does
            return
        _raise_unless_accepted(response)

    def post_in_order(
        self,
        texts: Sequence[str],
        more: Callable[[int], bool],
        until: float = math.inf,
        paced: bool = False,
    ) -> Iterator[float]:
        """POSTs each text in turn, several in flight on one connection (HTTP/1.1 pipelining:
        a backend takes a connection's requests in the order they were written and answers
        them in that order); yields, for each one accepted, in order, how long the backend
        took over it (from its answer to the one before, or from its writing if later).

        `more(n)`, with `n` requests in flight, says whether one more may be written now; with
        none in flight, a no ends the sending: the answers in flight are read, and it returns.
        Until the first answer, one request is in flight (a slow backend is not sent a queue it
        cannot answer in time), unless `paced`: the caller knows how long the backend takes and
        `more` judges by it. No answer is waited for past `until` (time.monotonic()).

        Raises as `post` does at the first one not accepted; the ones written after it are not
        taken as accepted, whatever their answers. A connection the backend closes (after an
        answer with `Connection: close`, or idle) is opened again and the unanswered ones
        written again. Without the pool (see the class), one request at a time through `post`.
        `more(0)` is asked before the pool is looked up (the emitter mounts its adapter then).
        """
        if not texts or not more(0):
            return
        self.open()
        self.paced = self.paced or paced
        done = 0
        while done < len(texts):
            if self._pool is None:
                for text in texts[done:]:
                    if not more(0):
                        return
                    started = time.monotonic()
                    self.post(text)
                    yield time.monotonic() - started
                return
            line = _Pipeline(self, self._pool, until)
            try:
                for took in line.send(texts[done:], more):
                    done += 1
                    yield took
            finally:
                line.close()
            if not line.reopen:
                return

    def _request_bytes(self, text: str) -> bytes:
        """The POST of `text` as the pool path writes it: the same headers, auth and body,
        each header checked as requests checks it (a value with a line break is refused with
        requests' InvalidHeader). The header lines are written again only when the transport's
        headers change (a token)."""
        body, headers = self._transport._prepare_request(text)
        data = body.encode("utf-8") if isinstance(body, str) else body
        if headers != self._headers_written:
            merged = CaseInsensitiveDict({**self._headers, **headers})
            merged.pop("Content-Length", None)
            for header in merged.items():
                check_header_validity(header)
            pool = self._pool
            assert pool is not None
            host = f"[{pool.host}]" if ":" in pool.host else pool.host
            default = 443 if pool.scheme == "https" else 80
            at = host if pool.port in (None, default) else f"{host}:{pool.port}"
            lines = "".join(f"{name}: {value}\r\n" for name, value in merged.items())
            self._head = f"POST {self._path} HTTP/1.1\r\n{lines}".encode("latin-1")
            self._host = b"" if "Host" in merged else f"Host: {at}\r\n".encode("latin-1")
            self._headers_written = headers
        return b"".join(
            (self._head, b"Content-Length: %d\r\n" % len(data), self._host, b"\r\n", data)
        )

    def _answered(self, answer: _Answer, text: str) -> None:
        """Raises, as `post` does, unless `answer` accepts `text`; a 307 or 308 sends it again
        through `post`, which follows it as requests does."""
        if answer.sets_cookie:  # kept, and sent from now on, by requests
            original = SimpleNamespace(_original_response=SimpleNamespace(msg=answer.headers))
            extract_cookies_to_jar(self._transport.session.cookies, self._prepared, original)
            self._pool = None
        if 200 <= answer.status < 300:
            return
        if answer.status in (307, 308):
            self.post(text)
            return
        headers = answer.headers
        response = requests.Response()
        response.status_code, response.reason = answer.status, answer.reason
        response.headers = CaseInsensitiveDict(headers.items())
        # the body as requests gives it: decoded (the session accepts gzip, deflate, ...)
        raw = urllib3.HTTPResponse(
            io.BytesIO(answer.body), headers=dict(headers.items()), preload_content=False
        )
        try:
            response._content = raw.read(decode_content=True)
        except urllib3.exceptions.DecodeError:
            response._content = answer.body
        response.encoding = get_encoding_from_headers(response.headers)
        response.url, response.request = self._url, self._prepared
        _raise_unless_accepted(response)


PIPELINE_DEPTH = 16
"""Requests in flight on one connection: written, their answers not read yet. Once half of them
are answered, the next ones are written together, in one system call rather than one each: the
emitter's CPU per event went from 67 to 63 µs against the bench backend (median of 30 runs
interleaved), its wall time unchanged."""


class _Pipeline:
    """One connection of a poster's pool, written ahead of its answers (HTTP/1.1 pipelining)."""

    def __init__(self, poster: JsonPoster, pool: HTTPConnectionPool, until: float) -> None:
        self.poster, self.pool, self.until = poster, pool, until
        self.connection: Any = None
        self.stream: IO[bytes] | None = None
        self.clean = False
        """The connection can go back to the pool: every request written was answered."""
        self.reopen = False
        """The backend closed the connection with requests unanswered: write them again."""

    def _timeout(self) -> float | None:
        """The transport's timeout, cut to what is left before `until`."""
        configured = _read_timeout(self.poster._transport.timeout)
        left = max(self.until - time.monotonic(), 0.001)
        return left if configured is None else min(configured, left)

    def send(self, texts: Sequence[str], more: Callable[[int], bool]) -> Iterator[float]:
        poster = self.poster
        if not more(0):
            return  # out of time before a connection was even opened
        try:
            connection: Any = self.pool._get_conn()
            self.connection = connection
            if connection.sock is None:
                connection.timeout = self._timeout()
                connection.connect()
            sock = connection.sock
            self.stream = stream = sock.makefile("rb")
        except (urllib3.exceptions.HTTPError, OSError) as error:
            raise _as_requests_error(error, poster._prepared, connecting=True) from error
        written: list[float] = []  # when each request was written
        partial: int | None = None
        """A request only partly written: the backend closed or reset the connection."""
        write_error: OSError | None = None
        answered, last_answer, stopped = 0, 0.0, False
        while answered < len(texts):
            depth = poster.depth if poster.paced else 1
            if not stopped and partial is None and len(written) - answered <= depth // 2:
                requests_now: list[bytes] = []
                while len(written) + len(requests_now) < min(len(texts), answered + depth):
                    if not more(len(written) + len(requests_now) - answered):
                        # with none in flight, the sending ends; else: once answers come in
                        stopped = not requests_now and len(written) == answered
                        break
                    text = texts[len(written) + len(requests_now)]
                    requests_now.append(poster._request_bytes(text))
                failed = self._write(sock, requests_now, written)
                if failed is not None:
                    # Its answers may still be read, the request cut short's too: a backend
                    # refuses a body too large (413) and closes before reading the rest of it.
                    write_error, partial = failed, len(written) - 1
            if len(written) == answered:
                self.clean = True
                return  # no more to write: out of time
            try:
                sock.settimeout(self._timeout())
                answer = _Answer.read(stream)
            except (http_client.RemoteDisconnected, ConnectionResetError) as error:
                if write_error is not None and answered == partial == 0:
                    raise _as_requests_error(write_error, poster._prepared) from write_error
                if answered or poster.depth > 1:
                    # closed by the backend (a limit of requests per connection, idle) with
                    # requests unanswered: written again on a new connection; if it closed
                    # before any answer, one at a time from now on
                    poster.depth = poster.depth if answered else 1
                    self.reopen = True
                    return
                raise _as_requests_error(error, poster._prepared) from error
            except TimeoutError as error:
                if len(written) - answered > 1:
                    poster.depth = 1  # a front end that answers no request in flight behind one
                raise _as_requests_error(error, poster._prepared) from error
            except (http_client.HTTPException, OSError) as error:
                raise _as_requests_error(error, poster._prepared) from error
            if answered == partial and 200 <= answer.status < 300:
                self.reopen = True  # accepted before it was whole: it is written again
                return
            poster._answered(answer, texts[answered])
            now = time.monotonic()
            took, last_answer = now - max(last_answer, written[answered]), now
            poster.paced = True
            yield took
            answered += 1
            if answer.will_close or poster._pool is None or answered == partial:
                self.reopen = answered < len(texts)
                return
        self.clean = True

    def _write(
        self, sock: socket.socket, requests_now: list[bytes], written: list[float]
    ) -> OSError | None:
        """Writes the requests in one go (a system call each costs more than building one), and
        notes when each was written; a request cut short by an error is noted as written, the
        ones after it are not, and the error is returned."""
        if not requests_now:
            return None
        data = memoryview(b"".join(requests_now))
        # Each is taken as written when the writing began: a backend's pace is not overrated.
        began, sent = time.monotonic(), 0
        try:
            while sent < len(data):
                sock.settimeout(self._timeout())  # as `sendall` did: the time left, not more
                sent += sock.send(data[sent:])
        except TimeoutError as error:
            raise _as_requests_error(error, self.poster._prepared) from error
        except OSError as error:
            ends = list(itertools.accumulate(len(request) for request in requests_now))
            written.extend([began] * (bisect.bisect_right(ends, sent) + 1))
            return error
        written.extend([began] * len(requests_now))
        return None

    def close(self) -> None:
        """Gives the connection back to the pool, closed unless every request was answered."""
        if self.stream is not None:
            self.stream.close()  # the stream only: the socket stays the connection's
        connection = self.connection
        if connection is None:
            return
        if not self.clean:
            connection.close()
        self.pool._put_conn(connection)


@dataclass(frozen=True, slots=True)
class _Answer:
    """One answer read off a connection's stream, which holds the start of the next ones: its
    status line and headers parsed only as far as reading it needs (`http.client` parses every
    header through the email package, 80 µs an answer, more than the rest of a request)."""

    status: int
    reason: str
    head: bytes
    """The header lines, as they came."""
    body: bytes
    will_close: bool

    @property
    def headers(self) -> http_client.HTTPMessage:
        return http_client.parse_headers(io.BytesIO(self.head + b"\r\n"))

    @property
    def sets_cookie(self) -> bool:
        return b"set-cookie:" in self.head.lower()

    @classmethod
    def read(cls, stream: IO[bytes]) -> _Answer:
        """The next final answer (1xx ones are passed over), raising as `http.client` does."""
        while True:
            line = _line(stream)
            if not line:
                raise http_client.RemoteDisconnected(
                    "Remote end closed connection without response"
                )
            version, _, rest = line.decode("latin-1").rstrip("\r\n").partition(" ")
            code, _, reason = rest.partition(" ")
            if not version.startswith("HTTP/") or len(code) != 3 or not code.isdigit():
                raise http_client.BadStatusLine(line.decode("latin-1"))
            lines: list[bytes] = []
            fields: dict[bytes, bytes] = {}
            while (header := _line(stream)) not in (b"\r\n", b"\n", b""):
                if len(lines) >= _MAX_HEADERS:
                    raise http_client.HTTPException(f"got more than {_MAX_HEADERS} headers")
                lines.append(header)
                name, _, value = header.partition(b":")
                fields.setdefault(name.strip().lower(), value.strip().lower())
            status = int(code)
            if not 100 <= status < 200:
                break
        connection = fields.get(b"connection", b"")
        will_close = b"close" in connection or (
            version == "HTTP/1.0" and b"keep-alive" not in connection
        )
        if status in (204, 304):
            body = b""
        elif b"chunked" in fields.get(b"transfer-encoding", b""):
            body = _chunked(stream)
        elif (length := fields.get(b"content-length")) is not None:
            if not length.isdigit():
                raise http_client.HTTPException(f"invalid Content-Length {length!r}")
            body = _exactly(stream, int(length))
        else:  # to the end of the connection
            body, will_close = stream.read(), True
        return cls(status, reason, b"".join(lines), body, will_close)


_MAX_LINE = 65536
_MAX_HEADERS = 100


def _line(stream: IO[bytes]) -> bytes:
    line = stream.readline(_MAX_LINE + 1)
    if len(line) > _MAX_LINE:
        raise http_client.LineTooLong("header line")
    return line


def _exactly(stream: IO[bytes], size: int) -> bytes:
    data = stream.read(size)
    if len(data) < size:
        raise http_client.IncompleteRead(data, size - len(data))
    return data


def _chunked(stream: IO[bytes]) -> bytes:
    parts: list[bytes] = []
    while True:
        size_text = _line(stream).split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise http_client.IncompleteRead(b"".join(parts)) from None
        if size == 0:
            while _line(stream) not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return b"".join(parts)
        parts.append(_exactly(stream, size))
        _line(stream)  # the chunk's CRLF


def _read_timeout(timeout: object) -> float | None:
    """The seconds `requests` would wait for each read, of a timeout in its forms."""
    if isinstance(timeout, tuple):
        timeout = timeout[-1]
    return float(timeout) if isinstance(timeout, (int, float)) else None


def _as_requests_error(
    error: Exception, request: requests.PreparedRequest, connecting: bool = False
) -> Exception:
    """The error `requests` raises for this failure of its pool (its adapter's mapping), or of
    a connection of it (`connecting`: while it was being opened)."""
    reason = error.reason if isinstance(error, urllib3.exceptions.MaxRetryError) else error
    exceptions = requests.exceptions
    if isinstance(reason, (urllib3.exceptions.SSLError, ssl.SSLError, ssl.CertificateError)):
        return exceptions.SSLError(error, request=request)
    if isinstance(reason, urllib3.exceptions.ReadTimeoutError) or (
        isinstance(reason, (TimeoutError, socket.timeout)) and not connecting
    ):
        return exceptions.ReadTimeout(error, request=request)
    if (
        isinstance(reason, urllib3.exceptions.ConnectTimeoutError)
        and not isinstance(reason, urllib3.exceptions.NewConnectionError)
    ) or isinstance(reason, (TimeoutError, socket.timeout)):
        return exceptions.ConnectTimeout(error, request=request)
    return exceptions.ConnectionError(error, request=request)


def post_json(transport: HttpTransport, url: str, text: str) -> None:
    """POST JSON text to `url` with the transport's settings (auth, custom headers, compression,
    timeout, TLS); raises unless it was accepted.

    Only a 2xx answer counts. A redirect that keeps the POST (307, 308: an http:// URL moved to
    https://, a trailing slash) is followed, as the client's transport does, unless a client
    certificate is configured (it would be shown to the other server); any other redirect
    (requests would turn the POST into a GET) is a failure that names where it points, so that
    no event is taken as sent when it was not.
    """
    # As the client's own transport does: a raised debug level would log the auth header.
    previous = http_client.HTTPConnection.debuglevel
    http_client.HTTPConnection.debuglevel = 0
    try:
        body, headers = transport._prepare_request(text)
        response = transport.session.post(
            url,
            data=body,
            headers=headers,
            timeout=transport.timeout,
            verify=transport.verify,
            cert=transport.cert,
            allow_redirects=transport.cert is None,
        )
        response.close()
    finally:
        http_client.HTTPConnection.debuglevel = previous
    _raise_unless_accepted(response)


def _raise_unless_accepted(response: requests.Response) -> None:
    """Raises unless the answer is a 2xx; a redirect left is named, with where it points."""
    moved = [r for r in response.history if r.status_code not in (307, 308)]
    if moved or response.is_redirect:
        answer = moved[0] if moved else response
        raise requests.HTTPError(
            f"{answer.status_code} redirect to {answer.headers.get('Location')}: not "
            "accepted (set the URL it points to)",
            response=answer,
        )
    response.raise_for_status()
    if not 200 <= response.status_code < 300:
        raise requests.HTTPError(f"{response.status_code} answer: not accepted", response=response)
