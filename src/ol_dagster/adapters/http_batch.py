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
from openlineage.client.serde import Serde
from openlineage.client.transport.http import HttpConfig, HttpTransport

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
            post_json(self, self.batch_url, "[" + ",".join(events) + "]")


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
            raise requests.HTTPError(
                f"{response.status_code} answer: not accepted", response=response
            )
    finally:
        http_client.HTTPConnection.debuglevel = previous
