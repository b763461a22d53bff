"""Transports that cannot confirm delivery by raising: waited on, refused, or named, with the real
openlineage-python transports and a real HTTP backend."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from openlineage.client import OpenLineageClient
from openlineage.client.transport import get_default_factory
from openlineage.client.transport.transport import Config

from ol_dagster.adapters.openlineage_emitter import OpenLineageEmitter
from tests.support.backend import LineageBackend
from tests.support.lineage_events import run_events
from tests.support.transports import Queued, Quiet


def _emitter(settings: Mapping[str, Any]) -> OpenLineageEmitter:
    transport = get_default_factory().create(dict(settings))
    return OpenLineageEmitter(OpenLineageClient(transport=transport), "1.13.27")


def _async(backend: LineageBackend) -> dict[str, Any]:
    return {"type": "async_http", "url": backend.url, "retry": {"total": 0}}


def test_async_http_counts_a_page_once_it_was_delivered(backend: LineageBackend) -> None:
    backend.delay = 0.3
    emitter = _emitter(_async(backend))
    result = emitter.emit(run_events(6), deadline=time.monotonic() + 30)
    assert result.accepted == 6 and result.failure is None
    assert len(backend.received) == 6  # there when emit returned: not still on their way
    assert emitter.confirmation.confirmed


def test_async_http_failures_send_the_page_again(backend: LineageBackend) -> None:
    emitter = _emitter(_async(backend))
    backend.status = 503
    result = emitter.emit(run_events(4), deadline=time.monotonic() + 30)
    assert result.accepted == 0 and result.retryable
    assert result.failure and "async_http did not deliver" in result.failure
    backend.status = 200
    assert emitter.emit(run_events(4), deadline=time.monotonic() + 30).accepted == 4
    assert len(backend.received) == 4


def test_async_http_not_done_by_the_deadline_is_not_sent(backend: LineageBackend) -> None:
    backend.delay = 4.0
    emitter = _emitter(_async(backend))
    started = time.monotonic()
    result = emitter.emit(run_events(2), deadline=started + 0.5)
    assert result.accepted == 0 and result.failure and "by the tick's deadline" in result.failure
    assert time.monotonic() - started < 3.5


def test_a_composite_that_only_logs_failures_is_refused_with_the_fix(
    backend: LineageBackend,
) -> None:
    http = {"type": "http", "url": backend.url, "retry": {"total": 0}}
    emitter = _emitter({"type": "composite", "transports": [http]})
    result = emitter.emit(run_events(2))
    assert result.accepted == 0 and not result.retryable
    assert result.failure and "continue_on_failure: false" in result.failure
    assert backend.received == []
    assert emitter.confirmation.refused


def test_a_composite_of_raising_transports_that_stops_on_failure_is_confirmed(
    backend: LineageBackend,
) -> None:
    http = {"type": "http", "url": backend.url, "retry": {"total": 0}}
    emitter = _emitter(
        {"type": "composite", "continue_on_failure": False, "transports": [http, http]}
    )
    assert emitter.confirmation.confirmed
    assert emitter.emit(run_events(2)).accepted == 2
    backend.stop()
    assert emitter.emit(run_events(2)).accepted == 0


def test_a_composite_over_async_http_is_refused(backend: LineageBackend) -> None:
    emitter = _emitter(
        {"type": "composite", "continue_on_failure": False, "transports": [_async(backend)]}
    )
    result = emitter.emit(run_events(2))
    assert result.accepted == 0 and result.failure and "composite over async_http" in result.failure


def test_a_users_own_transport_is_named_unconfirmed() -> None:
    emitter = OpenLineageEmitter(OpenLineageClient(transport=Quiet(Config())), "1.13.27")
    check = emitter.confirmation
    assert not check.confirmed and not check.refused
    assert "tests.support.transports.Quiet" in check.text and "wait_for_completion" in check.text
    assert emitter.emit(run_events(2)).accepted == 2


def test_a_users_transport_that_says_it_is_not_done_is_not_counted() -> None:
    emitter = OpenLineageEmitter(OpenLineageClient(transport=Queued(Config())), "1.13.27")
    assert emitter.confirmation.confirmed
    result = emitter.emit(run_events(2), deadline=time.monotonic() + 0.2)
    assert result.accepted == 0 and result.failure and "Queued" in result.failure
