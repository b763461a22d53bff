"""`JsonPoster` against the real backend: the transport's settings on its pool path, and the
cases it leaves to `requests` (a proxy, an adapter of the user's), each seen on the wire."""

from __future__ import annotations

import json
import os
import shutil
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from openlineage.client.transport.http import HttpConfig, HttpTransport
from requests.adapters import HTTPAdapter

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
