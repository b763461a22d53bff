"""One suite for every Emitter: the fake and the OpenLineage-client emitter over real HTTP."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import pytest
from openlineage.client import OpenLineageClient
from openlineage.client.transport.http import HttpConfig, HttpTransport

from ol_dagster.adapters.http_batch import HttpBatchConfig, HttpBatchTransport
from ol_dagster.adapters.openlineage_emitter import REQUEST_GRACE_SECONDS, OpenLineageEmitter
from ol_dagster.domain.lineage import EventType, JobKind, JobRef, LineageEvent
from ol_dagster.domain.ports import EmitResult, Emitter
from tests.fakes import FakeEmitter
from tests.support.backend import LineageBackend
from tests.support.lineage_events import run_events as _events
from tests.support.schemas import OpenLineageSchemas


@dataclass
class EmitterUnderTest:
    emitter: Emitter
    received: Callable[[], list[tuple[str, str, str]]]
    """(eventType, runId, job name) of what reached the other side."""
    break_backend: Callable[[], None]
    heal_backend: Callable[[], None]


def _fake() -> EmitterUnderTest:
    fake = FakeEmitter(clock=time.monotonic)

    def refuse() -> None:
        fake.allowance = 0

    def accept() -> None:
        fake.allowance = None

    return EmitterUnderTest(
        fake,
        lambda: [(e.event_type.value, e.run_id, e.job.name) for e in fake.sent],
        refuse,
        accept,
    )


def _real(backend: LineageBackend, batch_size: int | None = None) -> EmitterUnderTest:
    # No retries here: the suite is about what the emitter reports, not the client's back-off.
    settings = {"type": "http", "url": backend.url, "retry": {"total": 0}}
    transport = (
        HttpTransport(HttpConfig.from_dict(settings))
        if batch_size is None
        else HttpBatchTransport(HttpBatchConfig.from_dict({**settings, "batch_size": batch_size}))
    )
    emitter = OpenLineageEmitter(OpenLineageClient(transport=transport), "1.13.27")
    return EmitterUnderTest(
        emitter,
        lambda: [(e["eventType"], e["run"]["runId"], e["job"]["name"]) for e in backend.received],
        backend.stop,
        backend.start,
    )


@pytest.fixture(params=["fake", "real", "real_batches"])
def under_test(request: pytest.FixtureRequest, backend: LineageBackend) -> EmitterUnderTest:
    if request.param == "fake":
        return _fake()
    return _real(backend, batch_size=4 if request.param == "real_batches" else None)


def _expected(events: list[LineageEvent]) -> list[tuple[str, str, str]]:
    return [(e.event_type.value, e.run_id, e.job.name) for e in events]


def test_emitted_events_arrive_in_order(under_test: EmitterUnderTest) -> None:
    events = _events(6)
    result = under_test.emitter.emit(events)
    assert result.accepted == 6 and result.failure is None
    assert under_test.received() == _expected(events)


def test_an_unreachable_backend_is_reported_and_nothing_after_it_is_sent(
    under_test: EmitterUnderTest,
) -> None:
    events = _events(4)
    under_test.emitter.emit(events[:2])
    under_test.break_backend()
    result = under_test.emitter.emit(events[2:])
    assert result.accepted == 0
    assert result.failure
    under_test.heal_backend()
    retry = under_test.emitter.emit(events[2:])
    assert retry.accepted == 2
    assert under_test.received() == _expected(events)


def test_events_longer_than_a_batch_arrive_whole_and_in_order(
    under_test: EmitterUnderTest,
) -> None:
    events = _events(11)
    assert under_test.emitter.emit(events).accepted == 11
    assert under_test.emitter.emit(events[:1]).accepted == 1
    assert under_test.received() == _expected(events + events[:1])


@pytest.mark.parametrize("size", [None, 4])
def test_batch_size_is_the_events_one_request_carries(
    backend: LineageBackend, size: int | None
) -> None:
    """What the tick sizes its pages by: the batch transport's `batch_size`, 1 for others."""
    emitter = _real(backend, size).emitter
    assert emitter.emit(_events(emitter.batch_size)).failure is None
    assert backend.requests == 1 and emitter.batch_size == (size or 1)


@pytest.mark.parametrize("batch_size", [None, 3])
def test_real_events_match_the_official_schemas(
    backend: LineageBackend, schemas: OpenLineageSchemas, batch_size: int | None
) -> None:
    _real(backend, batch_size).emitter.emit(_events(5))
    assert len(backend.received) == 5
    for event in backend.received:
        schemas.validate_run_event(event)
    batches = ["/api/v1/lineage/batch"] * 2 if batch_size else ["/api/v1/lineage"] * 5
    assert backend.paths == batches


@pytest.mark.parametrize("batch_size", [None, 3])
@pytest.mark.parametrize(
    ("status", "retryable"), [(400, False), (422, False), (503, True), (429, True)]
)
def test_a_real_emitter_says_whether_sending_again_can_help(
    backend: LineageBackend, batch_size: int | None, status: int, retryable: bool
) -> None:
    backend.status = status
    result = _real(backend, batch_size).emitter.emit(_events(2))
    assert result.accepted == 0 and result.failure
    assert result.retryable is retryable


def test_the_batch_transport_takes_no_redirect_as_acceptance(backend: LineageBackend) -> None:
    backend.status = 302
    result = _real(backend, batch_size=3).emitter.emit(_events(2))
    assert result.accepted == 0 and result.failure


def test_no_event_is_sent_past_the_deadline(under_test: EmitterUnderTest) -> None:
    result = under_test.emitter.emit(_events(3), deadline=time.monotonic() - 0.001)
    assert result.accepted == 0 and result.failure is None  # out of time is no failure
    assert under_test.received() == []
    events = _events(3)
    assert under_test.emitter.emit(events, deadline=time.monotonic() + 30).accepted == 3
    assert under_test.received() == _expected(events)


@pytest.mark.parametrize("batch_size", [None, 1])
def test_a_slow_backend_is_sent_to_only_until_the_deadline(
    backend: LineageBackend, batch_size: int | None
) -> None:
    backend.delay = 1.0
    started = time.monotonic()
    result = _real(backend, batch_size).emitter.emit(_events(10), deadline=started + 2.5)
    elapsed = time.monotonic() - started
    # requests start at 0, 1 and 2 s; the third is answered at 3 s, within its 1.5 s timeout
    assert result.accepted == 3 and result.failure is None, result
    assert 2.9 < elapsed < 2.5 + REQUEST_GRACE_SECONDS, elapsed
    assert len(backend.received) == 3


def test_a_hanging_backend_times_out_by_the_deadline_and_grace(backend: LineageBackend) -> None:
    backend.delay = 3600.0
    started = time.monotonic()
    result = _real(backend).emitter.emit(_events(2), deadline=started + 2.0)
    elapsed = time.monotonic() - started
    assert result.accepted == 0 and result.failure and "Timeout" in result.failure
    assert result.retryable
    assert 2.0 + REQUEST_GRACE_SECONDS - 0.1 < elapsed < 2.0 + REQUEST_GRACE_SECONDS + 0.5
    assert backend.requests == 0  # not counted: still waiting when the client gave up


def test_the_clients_own_retries_do_not_run_beneath_the_ticks(backend: LineageBackend) -> None:
    """With the client's default retry settings (5 retries on 5xx), one failing request is
    reported at once: the tick's retry layer, which knows the deadline, retries it."""
    backend.status = 503
    transport = HttpTransport(HttpConfig.from_dict({"type": "http", "url": backend.url}))
    assert transport.config.retry["total"] == 5
    emitter = OpenLineageEmitter(OpenLineageClient(transport=transport), "1.13.27")
    result = emitter.emit(_events(2), deadline=time.monotonic() + 30)
    assert result.accepted == 0 and result.retryable and "503" in (result.failure or "")
    assert backend.requests == 1


def _job(name: str, event_type: EventType = EventType.START) -> LineageEvent:
    return LineageEvent(
        event_type=event_type,
        event_time=datetime(2026, 11, 25, 3, 0, 0, tzinfo=timezone.utc),
        run_id="0190f1d2-0000-7000-8000-000000000009",
        job=JobRef("default", name),
        job_kind=JobKind.JOB,
    )


@pytest.mark.parametrize("batch_size", [None, 3])
def test_an_event_the_backend_refuses_comes_back_as_sent_with_the_answer(
    backend: LineageBackend, batch_size: int | None
) -> None:
    backend.refuse_jobs = {"bad"}
    events = [*_events(2), _job("bad.step"), *_events(3)[2:]]
    result = _real(backend, batch_size).emitter.emit(events)
    assert result.accepted == 2 and not result.retryable
    assert result.failure is not None
    assert result.failure.endswith(
        'the backend answered: {"error": "job bad.step is not allowed here"}'
    )
    assert result.refused is not None
    refused = json.loads(result.refused)
    assert refused["job"]["name"] == "bad.step" and refused["eventType"] == "START"
    # the two before it arrived; one written behind it, in flight, may have too (it is not
    # counted as accepted: sent again after it)
    arrived = [(e["eventType"], e["run"]["runId"], e["job"]["name"]) for e in backend.received]
    assert arrived[:2] == _expected(events[:2])
    assert "bad.step" not in [e["job"]["name"] for e in backend.received]


@pytest.mark.parametrize("status", [401, 403, 404, 415, 429, 503])
def test_a_refusal_of_credentials_endpoint_or_pace_sets_no_event_aside(
    backend: LineageBackend, status: int
) -> None:
    backend.status = status
    result = _real(backend).emitter.emit(_events(1))
    assert result.accepted == 0 and result.failure and result.refused is None


def test_a_batch_refused_for_its_size_is_sent_one_by_one(backend: LineageBackend) -> None:
    backend.max_batch = 2  # a proxy's body limit: HTTP 413 for the batch, not for its events
    events = _events(7)
    result = _real(backend, batch_size=3).emitter.emit(events)
    assert result == EmitResult(accepted=7)
    assert [(e["eventType"], e["run"]["runId"], e["job"]["name"]) for e in backend.received] == (
        _expected(events)
    )


@pytest.mark.parametrize("batch_size", [None, 3])
@pytest.mark.parametrize("status", [307, 308])
def test_a_redirect_that_keeps_the_post_is_followed(
    backend: LineageBackend, batch_size: int | None, status: int
) -> None:
    """As the client's transport does: a URL moved (http to https, a trailing slash)."""
    path = "/api/v1/lineage/batch" if batch_size else "/api/v1/lineage"
    backend.moved = {f"/old{path}": (status, path)}  # the same server, its old path
    settings = {"type": "http", "url": f"{backend.url}/old/"}
    transport = (
        HttpTransport(HttpConfig.from_dict(settings))
        if batch_size is None
        else HttpBatchTransport(HttpBatchConfig.from_dict({**settings, "batch_size": 3}))
    )
    emitter = OpenLineageEmitter(OpenLineageClient(transport=transport), "1.13.27")
    assert emitter.emit(_events(4)) == EmitResult(accepted=4)
    assert len(backend.received) == 4


@pytest.mark.parametrize("status", [301, 302, 303])
def test_a_redirect_that_turns_the_post_into_a_get_is_not_taken_as_sent(
    backend: LineageBackend, status: int
) -> None:
    backend.moved = {"/old/api/v1/lineage": (status, "/api/v1/lineage")}
    transport = HttpTransport(HttpConfig.from_dict({"type": "http", "url": f"{backend.url}/old/"}))
    result = OpenLineageEmitter(OpenLineageClient(transport=transport), "1.13.27").emit(_events(1))
    assert result.accepted == 0 and not result.retryable and result.refused is None
    assert f"{status} redirect to /api/v1/lineage: not accepted" in (result.failure or "")
    assert backend.received == []


class _SigningTransport(HttpTransport):
    """A user's HTTP transport that changes what is sent (signs it, say)."""

    def __init__(self, config: HttpConfig) -> None:
        super().__init__(config)
        self.signed = 0

    def emit(self, event: Any) -> Any:
        self.signed += 1
        return super().emit(event)


def test_a_users_own_http_transport_is_sent_through_as_it_is(backend: LineageBackend) -> None:
    transport = _SigningTransport(HttpConfig.from_dict({"type": "http", "url": backend.url}))
    emitter = OpenLineageEmitter(OpenLineageClient(transport=transport), "1.13.27")
    assert emitter.emit(_events(3)) == EmitResult(accepted=3)
    assert transport.signed == 3 and len(backend.received) == 3
