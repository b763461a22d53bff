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

from collections.abc import Sequence
from http import client as http_client
from typing import TYPE_CHECKING
from urllib.parse import urljoin

import attr
import requests
import urllib3
from openlineage.client.serde import Serde
from openlineage.client.transport.http import HttpConfig, HttpTransport
from requests.adapters import HTTPAdapter
from requests.cookies import extract_cookies_to_jar
from requests.structures import CaseInsensitiveDict
from requests.utils import select_proxy
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

    def emit_batch(self, events: Sequence[Event]) -> None:
        """POST `events` as one JSON array; raises, as `emit` does, unless they were accepted."""
        self.emit_json([Serde.to_json(event) for event in events])

    def emit_json(self, events: Sequence[str]) -> None:
        """POST events already written as JSON objects, as one JSON array; raises unless they
        were accepted."""
        if events:
            JsonPoster(self, self.batch_url).post("[" + ",".join(events) + "]")


class JsonPoster:
    """POSTs JSON texts to one URL with an HTTP transport's settings, as `post_json` does, over
    the connection pool of the transport's own `requests` adapter.

    `requests` spends most of a small request outside the wire: it merges the environment's
    proxies and netrc, prepares, hooks and wraps each request (about 1,100 requests a second
    against a local backend; the pool beneath it about 3,000). The poster does that work once,
    when it is made (one per page), and sends each text through the adapter's pool with the
    same headers, auth (a token provider is still asked per request), TLS settings and
    timeout (read per request: the emitter cuts it to the tick's deadline), and the adapter's
    own retry setting. Where a request needs more than that, it goes through `post_json`: a
    proxy, an adapter or hooks of the user's, session auth or netrc, cookies (from the first
    answer that sets one on), a 307 or 308 redirect. Errors are those `requests` raises, so
    that they are judged alike.
    """

    def __init__(self, transport: HttpTransport, url: str) -> None:
        self._transport, self._url = transport, url
        self._pool: HTTPConnectionPool | None = None
        self._ready = False

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


def _as_requests_error(error: Exception, request: requests.PreparedRequest) -> Exception:
    """The error `requests` raises for this failure of its pool (its adapter's mapping)."""
    reason = error.reason if isinstance(error, urllib3.exceptions.MaxRetryError) else error
    exceptions = requests.exceptions
    if isinstance(reason, urllib3.exceptions.SSLError):
        return exceptions.SSLError(error, request=request)
    if isinstance(reason, urllib3.exceptions.ReadTimeoutError):
        return exceptions.ReadTimeout(error, request=request)
    if isinstance(reason, urllib3.exceptions.ConnectTimeoutError) and not isinstance(
        reason, urllib3.exceptions.NewConnectionError
    ):
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
