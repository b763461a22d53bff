"""One HTTP POST whose whole answer is bounded: in time by a deadline, in size by a limit.

A socket timeout bounds one read, and every byte a server sends starts it again: a server that
trickles its answer a byte at a time holds a reader for as long as it likes. Here a timer shuts
the request's socket at the deadline, which ends any read blocked on it (of the headers or of the
body); connecting is bounded by the socket timeout, the time left. The body is read in pieces and
given up on as soon as it passes `max_bytes`, so that no more than that is ever held. urllib's
opener is kept (proxies from the environment, TLS), with its connections watched; a redirect is
not followed (it would carry the Basic auth elsewhere).
"""

from __future__ import annotations

import base64
import contextlib
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from http import client as http_client
from types import TracebackType
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

PIECE_BYTES = 64 * 1024
"""Bytes asked of the socket at a time: at most this much past the limit is ever held."""


class OutOfTime(Exception):
    """The whole answer had not arrived by the deadline."""


class TooLarge(Exception):
    """The answer is longer than the limit."""


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    reason: str
    body: bytearray


def post(
    url: str, body: bytes, headers: Mapping[str, str], *, deadline: float, max_bytes: int
) -> Reply:
    """POST `body` to `url` (its userinfo sent as HTTP Basic auth) and read the whole answer
    (an HTTP error's too) by `deadline` (on `time.monotonic()`), or raise `OutOfTime`;
    `TooLarge` past `max_bytes`; `OSError` or `http.client.HTTPException` without an answer."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise OutOfTime
    url, headers = _userinfo_as_basic_auth(url, headers)
    request = urllib.request.Request(url, data=body, headers=dict(headers))  # noqa: S310 (http(s): settings check it)
    with _Watchdog(deadline) as watchdog:
        opener = urllib.request.build_opener(_WatchedHandler(watchdog), _NoRedirects())
        try:
            try:
                response: Any = opener.open(request, timeout=left)
            except urllib.error.HTTPError as error:  # an answer too: its body may say why
                response = error
            with response:
                reason = str(response.reason)
                where = response.headers.get("Location")
                if 300 <= response.getcode() < 400 and where:
                    parts = urlsplit(where)  # named without its userinfo
                    shown = urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
                    reason += f" to {shown} (redirects are not followed: give that URL)"
                reply = Reply(response.getcode(), reason, _read(response, max_bytes))
        except (OSError, http_client.HTTPException):
            if watchdog.expired:  # the read failed because its socket was shut
                raise OutOfTime from None
            raise
        if watchdog.expired:  # the read ended early, its socket shut
            raise OutOfTime
    return reply


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is the answer, not followed: urllib would send the request's headers (its
    Basic auth) to wherever it points, and turn the POST into a GET."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _userinfo_as_basic_auth(url: str, headers: Mapping[str, str]) -> tuple[str, Mapping[str, str]]:
    """`http://user:password@host/...` as the URL without them and HTTP Basic auth (urllib
    would take `password@host` for the port)."""
    parts = urlsplit(url)
    if parts.username is None:
        return url, headers
    pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
    host = parts.netloc.rpartition("@")[2]
    auth = {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}
    return urlunsplit(parts._replace(netloc=host)), {**headers, **auth}


def _read(response: Any, max_bytes: int) -> bytearray:
    length = response.headers.get("Content-Length", "")
    if length.isdigit() and int(length) > max_bytes:
        raise TooLarge
    body = bytearray()
    # read1: what one read of the socket gives, so that each piece is counted as it comes
    while piece := response.read1(PIECE_BYTES):
        body += piece
        if len(body) > max_bytes:
            raise TooLarge
    return body


class _Watchdog:
    """Shuts the sockets it watches at the deadline (`expired` from then on)."""

    def __init__(self, deadline: float) -> None:
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(max(deadline - time.monotonic(), 0.0), self._expire)
        self._timer.daemon = True

    def __enter__(self) -> _Watchdog:
        self._timer.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with self._lock:
            self._sockets.clear()  # closed by now: a timer that fires late finds none
        self._timer.cancel()

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            if self.expired:
                _shut(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                _shut(sock)


def _shut(sock: socket.socket) -> None:
    # the socket's own shutdown, under TLS too: a read blocked on it in another thread returns
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _WatchedHTTPConnection(http_client.HTTPConnection):
    def __init__(self, host: str, *, watchdog: _Watchdog, **kwargs: Any) -> None:
        super().__init__(host, **kwargs)
        self._watchdog = watchdog

    def connect(self) -> None:
        super().connect()
        self._watchdog.watch(self.sock)


class _WatchedHTTPSConnection(_WatchedHTTPConnection, http_client.HTTPSConnection):
    """Watched once HTTPSConnection.connect has made the TLS session: the socket timeout (the
    time left) bounds each read of the handshake."""


class _WatchedHandler(urllib.request.HTTPHandler, urllib.request.HTTPSHandler):
    """urllib's own handlers of http and https, opening watched connections."""

    def __init__(self, watchdog: _Watchdog) -> None:
        super().__init__()
        self._watchdog = watchdog

    def do_open(
        self, http_class: Any, req: urllib.request.Request, **http_conn_args: Any
    ) -> http_client.HTTPResponse:
        watched = (
            _WatchedHTTPSConnection
            if issubclass(http_class, http_client.HTTPSConnection)
            else _WatchedHTTPConnection
        )
        return super().do_open(partial(watched, watchdog=self._watchdog), req, **http_conn_args)
