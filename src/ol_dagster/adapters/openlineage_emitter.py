"""Emitter over openlineage-python's OpenLineageClient: each event encoded once (`event_json`)."""

from __future__ import annotations

import json
import logging
import math
import os
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timezone
from functools import partial
from operator import itemgetter
from pathlib import Path
from typing import Any, TextIO, cast
from urllib.parse import urljoin, urlsplit

from openlineage.client import OpenLineageClient
from openlineage.client.client import Event
from openlineage.client.event_v2 import DatasetEvent, Job, JobEvent, RunEvent
from openlineage.client.facet_v2 import documentation_job, source_code_location_job
from openlineage.client.serde import Serde
from openlineage.client.transport.console import ConsoleTransport
from openlineage.client.transport.http import HttpTransport
from openlineage.client.transport.kafka import KafkaTransport
from openlineage.client.transport.noop import NoopTransport
from requests.adapters import HTTPAdapter

from ol_dagster.adapters.client_events import client_event, client_facet
from ol_dagster.adapters.delivery_confirmation import background, confirmation
from ol_dagster.adapters.event_json import (
    Additions,
    EventJsonWriter,
    event_dict,
    run_event_dict,
    run_facets_dict,
)
from ol_dagster.adapters.http_batch import HttpBatchTransport, JsonPoster
from ol_dagster.adapters.kafka_delivery import KafkaDelivery
from ol_dagster.domain.errors import DISABLED, ConfigurationError, NothingConfigured
from ol_dagster.domain.lineage import Emittable, EventType, LineageEvent
from ol_dagster.domain.ports import PROBE_JOB, Confirmation, EmitResult
from ol_dagster.version import PRODUCER

logger = logging.getLogger("ol_dagster")


def build_client() -> OpenLineageClient:
    """The client as users configure it: OPENLINEAGE_URL, openlineage.yml, OPENLINEAGE__*.

    With no transport configured, openlineage-python falls back to printing events to its log:
    a sensor would then "send" all history there and move on. That is refused here instead,
    so that the cursor waits until a backend is configured. What counts is what the client
    itself resolved (a console transport that no configuration asked for), not a reading of
    the environment that could differ from the client's.
    """
    try:
        client = OpenLineageClient()
        asked = (client.config.transport or {}).get("type")
    except Exception as error:  # noqa: BLE001  (the client raises many types for bad settings)
        raise ConfigurationError(
            f"the OpenLineage client could not be configured: {redact(str(error))}"
        ) from None
    if isinstance(client.transport, ConsoleTransport) and not asked:
        why = _why_none(client)
        raise NothingConfigured(
            f"no OpenLineage transport is configured{why}: set OPENLINEAGE_URL "
            "(or an openlineage.yml, or OPENLINEAGE__TRANSPORT__* variables). To print events to "
            "the log on purpose, set OPENLINEAGE__TRANSPORT__TYPE=console. Nothing is sent until "
            "then; the cursor waits.",
            reason=why,
        )
    return client


def _why_none(client: OpenLineageClient) -> str:
    """What the user may have meant as a configuration, and why the client took none of it."""
    path = os.environ.get("OPENLINEAGE_CONFIG")
    if path and not Path(path).is_file():
        return f" (OPENLINEAGE_CONFIG={path} names no file)"
    if client.config.transport:
        return " (the transport settings name no type: set OPENLINEAGE__TRANSPORT__TYPE, e.g. http)"
    return ""


def describe(transport: object) -> str:
    """The transport the client resolved, for people: its kind, and where it sends (never its
    credentials)."""
    kind = getattr(transport, "kind", None) or type(transport).__name__
    if isinstance(transport, KafkaTransport):
        return f"{kind} to {KafkaDelivery(transport).where}"
    url = getattr(transport, "url", None)
    if not isinstance(url, str):
        return str(kind)
    parts = urlsplit(url)
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:  # a port that is not one: the client says so when it sends
        port = ":?"
    return f"{kind} to {parts.scheme}://{parts.hostname}{port}{parts.path}"


_SECRET_WORDS = ("KEY", "TOKEN", "PASSWORD", "SECRET", "CREDENTIAL")


_URL_CREDENTIALS = re.compile(r"(?<=//)[^/@\s]+@")


def redact(text: str) -> str:
    """`text` with credentials in URLs and every OpenLineage secret of the environment
    blotted out (values as set, and as the client reads them: JSON-decoded)."""
    text = _URL_CREDENTIALS.sub("***@", text)
    for name, raw in os.environ.items():
        name = name.upper()
        secret_name = name == "OPENLINEAGE_API_KEY" or (
            name.startswith("OPENLINEAGE__") and any(word in name for word in _SECRET_WORDS)
        )
        if not secret_name:
            continue
        for value in (raw, _json_text(raw)):
            if value and len(value) >= 4:
                text = text.replace(value, "***")
    return text


def _json_text(raw: str) -> str | None:
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, str) else None


def to_event(event: Emittable, engine_version: str) -> RunEvent | DatasetEvent:
    """The client's object of `event`: its JSON (the one mapping, `event_json`), structured."""
    return client_event(event_dict(event, engine_version))


class OpenLineageEmitter:
    """Sends events in order through the client's transport, stopping at the first failure.

    Over HTTP (the client's `http` transport, or `HttpBatchTransport` with batches of events a
    request), each event is written as JSON once, straight from the domain's events
    (`event_json`) with what the client's own steps add to it (`ClientSteps`), and sent with the
    transport's own settings. Over Kafka, the same JSON goes through the client's producer and
    counts as sent once the brokers acknowledged it (`KafkaDelivery`). Any other transport, or a
    client with filters or dataset reduction (steps that read the whole event), gets the
    client's objects through `client.emit`; one that sends in the background is waited on,
    one whose failures would be lost is refused (`delivery_confirmation`).
    """

    def __init__(
        self,
        client: OpenLineageClient,
        engine_version: str,
        kafka: Callable[[KafkaTransport], KafkaDelivery] = KafkaDelivery,
    ) -> None:
        self._client = client
        self._engine_version = engine_version
        transport = client.transport
        self._http = transport if isinstance(transport, HttpTransport) else None
        self._timeout = self._http.timeout if self._http is not None else math.inf
        # One retry layer: the tick's, which knows its deadline (app/tick.py). The client's own
        # urllib3 retries would retry a hanging backend 5 times 5 s under it.
        self._no_retries = HTTPAdapter(max_retries=0)
        self._answered_in = 0.0
        """How long the last accepted request took."""
        self._steps = ClientSteps.of(client)
        """What the client adds to each event, computed once per kind of event."""
        self._poster: JsonPoster | None = None
        self._lock = threading.Lock()
        # The client's Kafka transport logs a failed delivery and returns: its producer is
        # used here instead, and each page waits for the brokers (a subclass's own `emit` is
        # the user's).
        self._kafka = (
            kafka(transport)
            if isinstance(transport, KafkaTransport) and type(transport).emit is KafkaTransport.emit
            else None
        )
        self._confirmation = confirmation(transport)
        self._background = background(transport)
        """A transport that sends after `emit` returns (async_http, ...): waited on a page."""

    @property
    def batch_size(self) -> int:
        """The batch transport's events a request (its `batch_size`); 1 for any other."""
        transport = self._client.transport
        return transport.batch_size if isinstance(transport, HttpBatchTransport) else 1

    @property
    def disabled(self) -> bool:
        """The client sends nothing (OPENLINEAGE_DISABLED=true, or a noop transport)."""
        return getattr(self._client.transport, "kind", None) == NoopTransport.kind

    @property
    def confirmation(self) -> Confirmation:
        """How the configured transport confirms delivery (`delivery_confirmation`)."""
        return self._confirmation

    def emit(self, events: Sequence[Emittable], *, deadline: float = math.inf) -> EmitResult:
        """Sends `events` in order; one call at a time (what it keeps between calls, a
        connection with requests in flight among them, serves one caller)."""
        with self._lock:
            return self._emit(events, deadline)

    def _emit(self, events: Sequence[Emittable], deadline: float) -> EmitResult:
        transport = self._client.transport
        if self.disabled:  # the client would drop them and say nothing: never count them sent
            return EmitResult(accepted=0, failure=DISABLED, retryable=False)
        if self._confirmation.refused:  # its failures would be lost: the cursor waits
            return EmitResult(accepted=0, failure=self._confirmation.text, retryable=False)
        if isinstance(transport, HttpBatchTransport):
            return self._emit_batches(transport, events, deadline)
        steps = self._steps
        if self._kafka is not None:
            return self._to_kafka(self._kafka, self._texts(events, steps), deadline)
        # The client's own http transport (a subclass of the user's may override `emit`)
        if (
            isinstance(transport, HttpTransport)
            and type(transport).emit is HttpTransport.emit
            and steps is not None
        ):
            return self._emit_http(transport, self._texts(events, steps), deadline)
        return self._confirmed(lambda: self._through_client(events, deadline), deadline)

    def _through_client(self, events: Sequence[Emittable], deadline: float) -> EmitResult:
        for sent, event in enumerate(events):
            if not self._in_time(deadline):
                return EmitResult(accepted=sent)
            run_event = to_event(event, self._engine_version)
            try:
                started = time.monotonic()
                self._client.emit(run_event)
                self._answered_in = time.monotonic() - started
            # Any failure of any transport (connection, HTTP status, Kafka, ...) stops the batch
            # here; the use case keeps the cursor before this event and reports the reason.
            except Exception as error:  # noqa: BLE001
                return _failed(sent, error, partial(self._json_as_sent, run_event))
        return EmitResult(accepted=len(events))

    def _emit_http(
        self, transport: HttpTransport, texts: Sequence[str | None], deadline: float
    ) -> EmitResult:
        """One request an event to the transport's endpoint, with its settings, the JSON
        written once (`event_json`): what `client.emit` would send, without building the
        client's objects (`make bench`: 13 µs an event against 133). Several requests are in
        flight on one connection, in order (`JsonPoster.post_in_order`)."""
        wanted = [(index, text) for index, text in enumerate(texts) if text is not None]
        poster = self._poster = JsonPoster.fresh(
            self._poster, transport, urljoin(transport.url, transport.endpoint)
        )
        answered = 0
        try:
            for took in poster.post_in_order(
                [text for _, text in wanted],
                lambda in_flight: self._in_time(deadline, in_flight),
                until=deadline + REQUEST_GRACE_SECONDS,
                paced=self._answered_in > 0,
            ):
                self._answered_in = took
                answered += 1
        except Exception as error:  # noqa: BLE001  (as in `emit`)
            index, text = wanted[answered]
            return _failed(index, error, partial(str, text))
        return EmitResult(accepted=wanted[answered][0] if answered < len(wanted) else len(texts))

    def _confirmed(self, send: Callable[[], EmitResult], until: float) -> EmitResult:
        """What `send` returns, once a transport that sends in the background reported its
        events delivered by `until` (plus the grace); none of them counts as sent when it
        reports a failure among them, or has not finished: all go again."""
        waited = self._background
        if waited is None:
            return send()
        failed_before = waited.failed()
        result = send()
        if result.accepted == 0:
            return result
        reason = waited.outcome(failed_before, until - time.monotonic() + REQUEST_GRACE_SECONDS)
        if reason is None:
            return result
        logger.warning("ol-dagster: emit failed: %s", reason)
        return EmitResult(accepted=0, failure=reason)

    def _to_kafka(
        self, kafka: KafkaDelivery, texts: Sequence[str | None], deadline: float
    ) -> EmitResult:
        if not self._in_time(deadline):
            return EmitResult(accepted=0)
        result = kafka.send(texts, deadline)
        if result.failure is None:
            return result
        return replace(result, failure=redact(result.failure))

    def _each(
        self,
        texts: Sequence[str | None],
        send: Callable[[str], object],
        deadline: float,
        sent: int = 0,
    ) -> EmitResult:
        """`send` each JSON text (None: one the client's filters drop) while time is left,
        stopping at the first failure; `sent` events went before them."""
        for offset, text in enumerate(texts):
            if text is None:
                continue
            if not self._in_time(deadline):
                return EmitResult(accepted=sent + offset)
            try:
                started = time.monotonic()
                send(text)
                self._answered_in = time.monotonic() - started
            except Exception as error:  # noqa: BLE001  (as in `emit`)
                return _failed(sent + offset, error, partial(str, text))
        return EmitResult(accepted=sent + len(texts))

    def _in_time(self, deadline: float, in_flight: int = 0) -> bool:
        """Before each request: False once `deadline` has passed, or when the time left (and
        the grace) is shorter than the last request took, times the requests `in_flight` ahead
        of it and itself: it would time out, only to be sent again. Otherwise an HTTP
        request's timeout (requests applies it to connecting and to each read) is cut to the
        time left plus `REQUEST_GRACE_SECONDS`, with no retries beneath it (unless the user gave
        the client an adapter of theirs): a backend that does not answer is given up on by
        then; one that answers byte by byte, or a token provider with its own timeout, can take
        longer.
        """
        left = deadline - time.monotonic()
        if left <= 0 or left + REQUEST_GRACE_SECONDS < (in_flight + 1) * self._answered_in:
            return False
        http = self._http
        if http is not None:
            http.timeout = min(self._timeout, left + REQUEST_GRACE_SECONDS)
            session = http.session  # a new one after the client closed it: mounted again
            ours = session.adapters.get(http.url) is self._no_retries
            if http.config.adapter is None and not ours:
                session.mount(http.url, self._no_retries)
        return True

    def _emit_batches(
        self, transport: HttpBatchTransport, events: Sequence[Emittable], deadline: float
    ) -> EmitResult:
        steps = self._steps
        sent = 0
        for start in range(0, len(events), transport.batch_size):
            chunk = events[start : start + transport.batch_size]
            if not self._in_time(deadline):
                return EmitResult(accepted=sent)
            try:
                texts = self._texts(chunk, steps)
                started = time.monotonic()
                transport.emit_json([text for text in texts if text is not None])
                self._answered_in = time.monotonic() - started
            except Exception as error:  # noqa: BLE001  (as in `emit`: any failure stops here)
                if _refusal(error) is None:
                    return _failed(sent, error, lambda: None)
                # The backend judged the batch: find its events that it refuses, one by one.
                stopped = self._one_by_one(transport, texts, sent, deadline)
                if stopped is not None:
                    return stopped
            sent += len(chunk)
        return EmitResult(accepted=sent)

    def _texts(self, events: Sequence[Emittable], steps: ClientSteps | None) -> list[str | None]:
        """Each event's JSON as `client.emit` would send it; None for one the client's filters
        drop."""
        if steps is not None:
            writer = EventJsonWriter(self._engine_version, steps.additions)
            return [writer.json(event) for event in events]
        return [self._json_as_sent(to_event(e, self._engine_version)) for e in events]

    def _json_as_sent(self, event: RunEvent | DatasetEvent) -> str | None:
        prepared = self._prepared(event)
        return Serde.to_json(prepared) if prepared is not None else None

    def _one_by_one(
        self,
        transport: HttpBatchTransport,
        texts: Sequence[str | None],
        sent: int,
        deadline: float,
    ) -> EmitResult | None:
        """None when each event was accepted alone; else where and why it stopped."""
        result = self._each(texts, lambda text: transport.emit_json([text]), deadline, sent)
        if result.failure is not None or result.accepted < sent + len(texts):
            return result
        # Each accepted alone: the batch itself was refused (its size, say: HTTP 413).
        logger.warning(
            "ol-dagster: the backend refused a batch of %d events whose events it accepts one "
            "by one: lower OPENLINEAGE__TRANSPORT__BATCH_SIZE",
            len(texts),
        )
        return None

    def _prepared(self, run_event: RunEvent | DatasetEvent) -> Event | None:
        """What `OpenLineageClient.emit` does to an event before its transport sends it."""
        client = self._client
        event: Event = client.add_environment_facets(run_event)
        event = client.update_event_tags_facets(event)
        event = client.add_source_code_location_facet(event)
        if client.config.dataset.reducing_enabled:
            event = client.reduce_datasets(event)
        return client.filter_event(event)

    def probe(self, namespace: str) -> str | None:
        """Sends one harmless event the backend must accept, through the configured transport
        (URL, endpoint, credentials): a JobEvent for the job `ol_dagster_doctor`, documented as
        a probe. Returns why it was not accepted, in words that say what to fix; None if it was.
        """
        event = JobEvent(
            eventTime=datetime.now(timezone.utc).isoformat(),
            producer=PRODUCER,
            job=Job(
                namespace=namespace,
                name=PROBE_JOB,
                facets={
                    "documentation": documentation_job.DocumentationJobFacet(
                        description="A probe sent by `ol-dagster doctor`; safe to delete.",
                        producer=PRODUCER,
                    )
                },
            ),
            inputs=[],
            outputs=[],
        )
        self._in_time(math.inf)  # the configured timeout, whatever a tick left it at
        if self._kafka is not None:
            probed = self._to_kafka(
                self._kafka, [Serde.to_json(event)], time.monotonic() + PROBE_SECONDS
            )
            return None if probed.failure is None else f"did not accept an event ({probed.failure})"
        if self._confirmation.refused:
            return self._confirmation.text
        try:
            self._confirmed_emit(event)
        except Exception as error:  # noqa: BLE001  (any transport's failure is the answer)
            status = getattr(getattr(error, "response", None), "status_code", None)
            reason = redact(f"{type(error).__name__}: {error}")
            hint = _STATUS_HINTS.get(status) if isinstance(status, int) else None
            return f"{hint or 'did not accept an event'} ({reason})"
        return None

    def _confirmed_emit(self, event: JobEvent) -> None:
        """`client.emit`, waiting for a transport that sends in the background."""
        waited = self._background
        failed_before = waited.failed() if waited is not None else 0
        self._client.emit(event)
        reason = waited.outcome(failed_before, PROBE_SECONDS) if waited is not None else None
        if reason is not None:
            raise RuntimeError(reason)


PROBE_SECONDS = 10.0
"""How long `ol-dagster doctor` waits for the brokers to acknowledge its probe."""


REQUEST_GRACE_SECONDS = 1.0
"""How far past the tick's deadline an HTTP request may run before it times out: a request
started with little time left still gets this long to be answered."""


_SKELETON_TIME = "1970-01-01T00:00:00+00:00"
_SKELETON_RUN_ID = "00000000-0000-7000-8000-000000000000"


class ClientSteps:
    """What `OpenLineageClient.emit` adds to a run event (environment variables, client and
    user tags, the git sourceCodeLocation), applied to the JSON of `event_json`.

    The client computes the additions itself, with its own public steps, on skeleton events
    holding just what those steps read. Its environment, job tags and source location depend
    on whether the event's job names its source: computed once per emitter for each. Its run
    tags are merged into the event's own: computed once per distinct set of run tags, with the
    tags step alone (each Dagster step is a run of its own, with tags of its own). Filters and
    dataset reduction read the whole event: with either configured, `of` returns None and the
    emitter builds the client's objects as `client.emit` does.
    """

    _KEPT = 10_000
    """Distinct run tags whose additions are kept; beyond, they are forgotten and computed
    again."""

    def __init__(self, client: OpenLineageClient) -> None:
        self._client = client
        self._base: dict[bool, Additions] = {}
        self._bare: RunEvent | None = None
        self._tag_makers: dict[tuple[str, ...], Callable[[LineageEvent], dict[str, Any]]] = {}
        self._additions: dict[tuple[tuple[tuple[str, str], ...], bool], Additions] = {}

    @classmethod
    def of(cls, client: OpenLineageClient) -> ClientSteps | None:
        config = client.config
        if config.filters or config.dataset.reducing_enabled:
            return None
        return cls(client)

    def additions(self, event: LineageEvent) -> Additions:
        names_source = event.job_docs is not None and bool(event.job_docs.source_url)
        key = (event.run_tags, names_source)
        additions = self._additions.get(key)
        if additions is None:
            if len(self._additions) >= self._KEPT:
                self._additions.clear()
            base = self._base.get(names_source)
            if base is None:
                base = self._base[names_source] = self._compute_base(event, names_source)
            run = dict(base.run)
            run.update(self._run_tags(event))
            additions = self._additions[key] = Additions(run=run, job=base.job)
        return additions

    def _compute_base(self, event: LineageEvent, names_source: bool) -> Additions:
        """What every step adds to a run event without tags of its own."""
        skeleton = _skeleton(event, run_tags=())
        run_facets = skeleton.run.facets or {}
        job_facets = skeleton.job.facets = dict(skeleton.job.facets or {})
        if names_source:
            job_facets["sourceCodeLocation"] = _SOURCE_PLACEHOLDER
        own_run, own_job = set(run_facets) | {"tags"}, set(job_facets)
        client = self._client
        stepped = client.add_source_code_location_facet(
            client.update_event_tags_facets(client.add_environment_facets(skeleton))
        )
        assert isinstance(stepped, RunEvent)
        return Additions(
            run=_plain(stepped.run.facets, leave_out=own_run),
            job=_plain(stepped.job.facets, leave_out=own_job),
        )

    def _run_tags(self, event: LineageEvent) -> dict[str, Any]:
        """The event's run tags facet as the client's tags step leaves it (none to add: {}).

        The step merges the user's tags into the event's by key, passing the event's values
        through: it is run once per set of tag keys, on stand-ins for the values, which are
        then put in place (nearly every Dagster step has tags of its own: its run id, step key
        and attempt), by a function made once from what the step left (`_filling`). Should a
        stand-in come out altered, the step is run on the values."""
        keys = tuple(key for key, _ in event.run_tags)
        make = self._tag_makers.get(keys)
        if make is None:
            if len(self._tag_makers) >= self._KEPT:
                self._tag_makers.clear()
            stand_ins = tuple((key, _stand_in(i)) for i, key in enumerate(keys))
            make = self._tag_makers[keys] = self._tag_maker(self._stepped_tags(event, stand_ins))
        return make(event)

    def _tag_maker(self, template: dict[str, Any]) -> Callable[[LineageEvent], dict[str, Any]]:
        """What makes an event's run tags facet from the step's `template` of its tag keys."""
        try:
            fill = _filling(template)
        except _Altered:
            return lambda event: self._stepped_tags(event, event.run_tags)
        if fill is None:  # nothing stands in: no tags of the event's own come through
            return lambda event: template
        return lambda event: cast("dict[str, Any]", fill([v for _, v in event.run_tags]))

    def _stepped_tags(
        self, event: LineageEvent, run_tags: tuple[tuple[str, str], ...]
    ) -> dict[str, Any]:
        """The client's tags step run on a bare event, made once, given just these tags."""
        if self._bare is None:
            self._bare = _skeleton(event, run_tags=())
        facets = run_facets_dict(_bare_event(event, run_tags), engine_version="")
        self._bare.run.facets = {k: client_facet(v) for k, v in facets.items()}
        stepped = self._client.update_event_tags_facets(self._bare)
        assert isinstance(stepped, RunEvent)
        return _plain({"tags": (stepped.run.facets or {}).get("tags")}, leave_out=set())


_STAND_IN = "\x00ol-dagster-tag-value-"
"""Starts the stand-in of a tag's value: a text no Dagster tag holds."""


def _stand_in(index: int) -> str:
    """What stands in the step for the value of the `index`-th tag."""
    return f"{_STAND_IN}{index}\x00"


class _Altered(Exception):
    """A stand-in came out of the client's step altered."""


_Fill = Callable[[Sequence[str]], Any]


def _filling(template: Any) -> _Fill | None:
    """A function that makes `template` with the `i`-th stand-in replaced by the `i`-th of the
    values it is given (what does not hold a stand-in is shared, not copied); None when nothing
    in `template` stands in. Raises `_Altered` if a stand-in came out of the step as part of a
    text."""
    if isinstance(template, str):
        index = _index_of(template)
        if index is not None:
            return itemgetter(index)
        if _STAND_IN in template:
            raise _Altered(template)
        return None
    if isinstance(template, dict):
        fills = {key: _filling(item) for key, item in template.items()}
        varying = [(key, fill) for key, fill in fills.items() if fill is not None]
        if not varying:
            return None
        fixed = {key: template[key] for key, fill in fills.items() if fill is None}

        def filled_dict(values: Sequence[str]) -> dict[str, Any]:
            filled = dict(fixed)
            for key, fill in varying:
                filled[key] = fill(values)
            return filled

        return filled_dict
    if isinstance(template, list):
        items = [(_filling(item), item) for item in template]
        if all(fill is None for fill, _ in items):
            return None
        return lambda values: [item if fill is None else fill(values) for fill, item in items]
    return None


def _index_of(text: str) -> int | None:
    """The index `text` stands in for, if it is a stand-in."""
    if text.startswith(_STAND_IN) and text.endswith("\x00"):
        index = text[len(_STAND_IN) : -1]
        if index.isascii() and index.isdigit() and text == _stand_in(int(index)):
            return int(index)
    return None


def _bare_event(event: LineageEvent, run_tags: tuple[tuple[str, str], ...]) -> LineageEvent:
    """A bare run event of `event`'s job, with these run tags."""
    return LineageEvent(
        event_type=EventType.RUNNING,
        event_time=datetime.fromisoformat(_SKELETON_TIME),
        run_id=_SKELETON_RUN_ID,
        job=event.job,
        job_kind=event.job_kind,
        run_tags=run_tags,
    )


def _skeleton(event: LineageEvent, run_tags: tuple[tuple[str, str], ...]) -> RunEvent:
    """The client's object of a bare run event of `event`'s job, with these run tags."""
    skeleton = client_event(run_event_dict(_bare_event(event, run_tags), engine_version=""))
    assert isinstance(skeleton, RunEvent)
    return skeleton


def _plain(facets: Mapping[str, Any] | None, leave_out: set[str]) -> dict[str, Any]:
    return {k: Serde.to_dict(v) for k, v in (facets or {}).items() if k not in leave_out and v}


_SOURCE_PLACEHOLDER = source_code_location_job.SourceCodeLocationJobFacet(type="url", url="x")
"""Stands, in a skeleton, for the sourceCodeLocation the event's own job facets carry."""


_STATUS_HINTS = {
    400: "refused the event as invalid (schema): is the URL an OpenLineage endpoint?",
    401: "refused the credentials (HTTP 401): check OPENLINEAGE_API_KEY",
    403: "refused the credentials (HTTP 403): check OPENLINEAGE_API_KEY and its rights",
    404: "has no such endpoint (HTTP 404): check the URL and OPENLINEAGE_ENDPOINT",
    422: "refused the event as invalid (HTTP 422): is the URL an OpenLineage endpoint?",
}


def _failed(sent: int, error: Exception, refused_json: Callable[[], str | None]) -> EmitResult:
    """The result of a failure after `sent` events: why, with the backend's answer, and, when
    the backend judged that event itself, its JSON (`refused_json`), to be kept as a dead
    letter."""
    reason = redact(f"{type(error).__name__}: {error}")
    answer = _answer(error)
    if answer not in ("", "{}", "[]"):
        reason += f"; the backend answered: {answer}"
    status = getattr(getattr(error, "response", None), "status_code", None)
    if status in (401, 403, 404):  # not the event: what to fix
        reason += f" (the backend {_STATUS_HINTS[status]})"
    logger.warning("ol-dagster: emit failed after %d events: %s", sent, reason)
    refused = refused_json() if _refusal(error) is not None else None
    return EmitResult(accepted=sent, failure=reason, retryable=_retryable(error), refused=refused)


def _answer(error: Exception) -> str:
    """The start of the body of the backend's answer to a failed request, on one line."""
    response = getattr(error, "response", None)
    try:
        text = str(getattr(response, "text", "") or "")
    except Exception:  # noqa: BLE001  (an undecodable body says nothing)
        return ""
    return redact(" ".join(text.split()))[:300]


_NOT_ABOUT_THE_EVENT = frozenset({401, 403, 404, 405, 407, 408, 415, 425, 429})
"""Refusals of the credentials, the endpoint, the content type or the pace, not of the event:
they would refuse every event alike, so none is set aside; the tick stops and says what to fix."""


def _refusal(error: Exception) -> int | None:
    """The HTTP status with which the backend judged the event unacceptable for good (400,
    413, 422, ...); None for any other failure."""
    status = getattr(getattr(error, "response", None), "status_code", None)
    if isinstance(status, int) and 400 <= status < 500 and status not in _NOT_ABOUT_THE_EVENT:
        return status
    return None


def _retryable(error: Exception) -> bool:
    """Whether sending again may succeed: not after the backend judged the event itself."""
    response = getattr(error, "response", None)
    status = getattr(response, "status_code", None)
    if isinstance(status, int):
        if 300 <= status < 400:
            return False  # a redirect stays one: the URL is to change
        return not (400 <= status < 500) or status in (408, 425, 429)
    # a transport error (connection, timeout, broker) may pass; a bad event never will
    return not isinstance(error, (TypeError, ValueError, AttributeError, KeyError))


class PrintingEmitter:
    """Writes each event as one JSON line instead of sending it: for dry runs."""

    batch_size = 1

    def __init__(self, stream: TextIO, engine_version: str) -> None:
        self._stream = stream
        self._engine_version = engine_version

    def emit(self, events: Sequence[Emittable], *, deadline: float = math.inf) -> EmitResult:
        writer = EventJsonWriter(self._engine_version)
        for event in events:
            self._stream.write(writer.json(event) + "\n")
        self._stream.flush()
        return EmitResult(accepted=len(events))
