"""The JSON sent over HTTP against what the client sends through any other transport.

The mapping exists once, as JSON (`event_json`). Over HTTP, `EventJsonWriter` and `ClientSteps`
write it with what the client's steps add; any other transport gets the client's objects built
from it (`client_events`) through `OpenLineageClient.emit`. Generated events of every shape go
through both ways, under
client settings that add environment variables, user tags (some clashing with Dagster's) and a
git source location; the two must give the same bytes. The writer reuses the text of what
events share, so the generated batches hold events that share a run, a job or datasets and
differ in the rest.
"""

from __future__ import annotations

import io
import json
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openlineage.client import OpenLineageClient
from openlineage.client.client import Event
from openlineage.client.event_v2 import RunEvent
from openlineage.client.facet_v2 import parent_run
from openlineage.client.serde import Serde
from openlineage.client.transport import Transport

from ol_dagster.adapters.client_events import client_event
from ol_dagster.adapters.event_json import EventJsonWriter, event_dict
from ol_dagster.adapters.openlineage_emitter import ClientSteps, PrintingEmitter, to_event
from ol_dagster.domain.datasets import CheckResult, Column, ColumnSource, Dataset, DatasetId
from ol_dagster.domain.lineage import (
    DatasetObservation,
    Emittable,
    EventType,
    JobKind,
    JobRef,
    LineageEvent,
    ParentRef,
)
from ol_dagster.domain.records import ErrorDetail, JobDocs
from tests.support.schemas import OpenLineageSchemas

ENGINE = "1.13.27"


class RecordingTransport(Transport):
    """Keeps the JSON of what the client hands its transport: what would go on the wire."""

    kind = "recording"

    def __init__(self) -> None:
        self.sent: list[str] = []

    def emit(self, event: Event) -> None:
        self.sent.append(Serde.to_json(event))


# -- generated domain events --------------------------------------------------------------------

_text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=8)
_maybe_text = st.none() | _text
_times = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(timezone.utc)
)
_uuids = st.uuids(version=4).map(str)
_ids = st.builds(DatasetId, namespace=_text, name=_text)
_tag_keys = st.sampled_from(["team", "Team", "openlineage_client_version", "env"]) | _text
_pairs = st.lists(st.tuples(_tag_keys, _text), max_size=3).map(tuple)
_owners = st.lists(st.sampled_from(["team:data", "ana@example.com"]) | _text, max_size=2)

# what a facets hook adds: custom facets, as the hook's adapter passes them on (name, JSON text)
_added = st.lists(
    st.tuples(
        st.sampled_from(["costCentre", "team", "steward"]),
        _text.map(
            lambda value: json.dumps(
                {
                    "_producer": "https://example.com/p",
                    "_schemaURL": "https://example.com/s.json",
                    "value": value,
                },
                sort_keys=True,
            )
        ),
    ),
    max_size=2,
    unique_by=lambda added: added[0],
).map(tuple)
_datasets = st.builds(
    Dataset,
    id=_ids,
    added_facets=_added,
    asset_key=st.lists(_text, min_size=1, max_size=2).map(tuple),
    alias=st.none() | _ids,
    partition=_maybe_text,
    partition_dimensions=_pairs,
    description=_maybe_text,
    owners=_owners.map(tuple),
    tags=_pairs,
    columns=st.lists(
        st.builds(Column, name=_text, type=_maybe_text, description=_maybe_text), max_size=2
    ).map(tuple),
    column_lineage=st.lists(
        st.tuples(
            _text,
            st.lists(st.builds(ColumnSource, dataset=_ids, column=_text), max_size=2).map(tuple),
        ),
        max_size=2,
    ).map(tuple),
    row_count=st.none() | st.integers(0, 10**12),
    size_bytes=st.none() | st.integers(0, 10**12),
    checks=st.lists(
        st.builds(CheckResult, name=_text, passed=st.booleans(), severity=_maybe_text), max_size=2
    ).map(tuple),
    version=_maybe_text,
)
_jobs = st.builds(JobRef, namespace=_text, name=_text)
_run_events = st.builds(
    LineageEvent,
    event_type=st.sampled_from(EventType),
    event_time=_times,
    run_id=_uuids,
    job=_jobs,
    job_kind=st.sampled_from(JobKind),
    parent=st.none()
    | st.builds(ParentRef, run_id=_uuids, job=_jobs, root_run_id=_uuids, root_job=_jobs),
    error=st.none() | st.builds(ErrorDetail, message=_text, stack_trace=_maybe_text),
    inputs=st.lists(_datasets, max_size=2).map(tuple),
    outputs=st.lists(_datasets, max_size=2).map(tuple),
    run_tags=_pairs,
    nominal_time=st.none() | _times,
    nominal_end=st.none() | _times,
    job_docs=st.none()
    | st.builds(
        JobDocs,
        description=_maybe_text,
        owners=_owners.map(tuple),
        source_url=_maybe_text,
        source_path=_maybe_text,
    ),
    added_run_facets=_added,
    added_job_facets=_added,
)
_observations = st.builds(DatasetObservation, event_time=_times, dataset=_datasets)
_emittables: st.SearchStrategy[Emittable] = _run_events | _observations


@st.composite
def _batches(draw: st.DrawFn) -> list[Emittable]:
    """Events of one or two runs: variations of a first event, one field set changed at a time,
    mixed with unrelated events."""
    batch: list[Emittable] = []
    for base in draw(st.lists(_run_events, min_size=1, max_size=2)):
        batch.append(base)
        for _ in range(draw(st.integers(0, 4))):
            changes = draw(
                st.fixed_dictionaries(
                    {},
                    optional={
                        "event_type": st.sampled_from(EventType),
                        "run_id": _uuids,
                        "event_time": _times,
                        "error": st.none() | st.builds(ErrorDetail, message=_text),
                        "run_tags": _pairs,
                        "nominal_time": st.none() | _times,
                        "nominal_end": st.none() | _times,
                        "inputs": st.lists(_datasets, max_size=1).map(tuple),
                        "outputs": st.lists(_datasets, max_size=1).map(tuple),
                        "job_docs": st.none() | st.builds(JobDocs, source_url=_maybe_text),
                        "job_kind": st.sampled_from(JobKind),
                    },
                )
            )
            batch.append(replace(base, **changes))
    batch.extend(draw(st.lists(_emittables, max_size=2)))
    return draw(st.permutations(batch))


# -- client settings ----------------------------------------------------------------------------

CLIENT_SETTINGS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "env, tags and git source": {
        "facets": {
            "environment_variables": ["OL_DAGSTER_CONTRACT_VAR", "OL_DAGSTER_CONTRACT_UNSET"],
            "source_code_location": {"disabled": False, "repo_url": "https://git.example/ol.git"},
        },
        "tags": {"run": {"TEAM": "platform", "cost_center": "42"}, "job": {"tier": "gold"}},
    },
}


@pytest.fixture(params=sorted(CLIENT_SETTINGS))
def client_settings(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    monkeypatch.setenv("OL_DAGSTER_CONTRACT_VAR", "on")
    monkeypatch.delenv("OL_DAGSTER_CONTRACT_UNSET", raising=False)
    return CLIENT_SETTINGS[request.param]


def _client(config: dict[str, Any]) -> tuple[OpenLineageClient, RecordingTransport]:
    transport = RecordingTransport()
    return OpenLineageClient(transport=transport, config=config), transport


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(events=_batches())
def test_batch_json_is_byte_for_byte_what_the_client_sends(
    client_settings: dict[str, Any], events: list[Emittable]
) -> None:
    client, wire = _client(client_settings)
    for event in events:
        client.emit(to_event(event, ENGINE))
    assert _batch_json(client_settings, events) == wire.sent


def _batch_json(client_settings: dict[str, Any], events: list[Emittable]) -> list[str]:
    """The texts the emitter sends for `events` in one batch."""
    steps = ClientSteps.of(_client(client_settings)[0])
    assert steps is not None
    writer = EventJsonWriter(ENGINE, steps.additions)
    return [writer.json(event) for event in events]


def test_the_client_steps_do_add_something_under_these_settings(
    client_settings: dict[str, Any],
) -> None:
    """The comparison above would prove little if the client added nothing: it adds its own
    version tag always, and environment variables, user tags and source under the second."""
    event = LineageEvent(
        EventType.START,
        datetime(2026, 11, 25, tzinfo=timezone.utc),
        "0190f1d2-0000-7000-8000-000000000001",
        JobRef("ns", "job"),
        JobKind.JOB,
        run_tags=(("team", "data"),),
    )
    body = json.loads(_batch_json(client_settings, [event])[0])
    tags = {t["key"]: t["value"] for t in body["run"]["facets"]["tags"]["tags"]}
    assert "openlineage_client_version" in tags
    if client_settings:
        assert tags["team"] == "platform"  # the user's TEAM overrides Dagster's team, key kept
        assert body["run"]["facets"]["environmentVariables"]["environmentVariables"] == [
            {"name": "OL_DAGSTER_CONTRACT_VAR", "value": "on"}
        ]
        assert body["job"]["facets"]["sourceCodeLocation"]["repoUrl"].endswith("ol.git")
        assert body["job"]["facets"]["tags"]["tags"][0]["key"] == "tier"


def test_filters_or_dataset_reduction_take_the_client_path() -> None:
    """Those steps read the whole event, so the emitter builds the client's objects for them."""
    filtered = {"filters": [{"type": "exact", "match": "skipped_job"}]}
    reducing = {"dataset": {"reducing_enabled": True}}
    assert ClientSteps.of(_client(filtered)[0]) is None
    assert ClientSteps.of(_client(reducing)[0]) is None


@settings(max_examples=100, deadline=None)
@given(events=_batches())
def test_the_client_objects_built_from_the_json_give_it_back(events: list[Emittable]) -> None:
    """Each facet becomes the client's class for its schema URL (what Kafka's message keys,
    the tags step and dataset reduction read); a user's facet stays JSON; nothing is lost."""
    for event in events:
        written = event_dict(event, ENGINE)
        built = client_event(json.loads(json.dumps(written)))
        assert Serde.to_json(built) == json.dumps(written, sort_keys=True)
        if isinstance(event, LineageEvent):
            assert isinstance(built, RunEvent)
            facets = {**(built.run.facets or {}), **(built.job.facets or {})}
            mine = {name for name, _ in event.added_run_facets + event.added_job_facets}
            assert all(isinstance(f, dict) == (n in mine) for n, f in facets.items()), facets
            if event.parent is not None:
                assert isinstance(facets["parent"], parent_run.ParentRunFacet)
                assert built.run.facets["parent"].root.job.name == event.parent.root_job.name


@settings(max_examples=60, deadline=None)
@given(events=_batches())
def test_dataset_reduction_and_filters_work_on_the_client_objects(events: list[Emittable]) -> None:
    """The client's steps read typed values deep in an event (column lineage's fields, say):
    every event goes through `client.emit` with dataset reduction and a filter configured."""
    config = {
        "dataset": {"reducing_enabled": True},
        "filters": [{"type": "exact", "match": "never_this_job"}],
    }
    client, wire = _client(config)
    for event in events:
        client.emit(to_event(event, ENGINE))
    assert len(wire.sent) == len(events)


@settings(max_examples=100, deadline=None)
@given(events=_batches())
def test_the_printing_emitter_writes_what_serde_writes(events: list[Emittable]) -> None:
    stream = io.StringIO()
    PrintingEmitter(stream, ENGINE).emit(events)
    expected = [Serde.to_json(to_event(event, ENGINE)) for event in events]
    assert stream.getvalue().splitlines() == expected


@settings(max_examples=60, deadline=None)
@given(event=_emittables)
def test_generated_events_match_the_official_schemas(
    schemas: OpenLineageSchemas, event: Emittable
) -> None:
    """The generated events are valid OpenLineage, so the comparison is about real events."""
    schemas.validate_event(json.loads(_batch_json({}, [event])[0]))


class _ValueChangingClient(OpenLineageClient):
    """A client whose tags step rewrites the values of the event's own run tags: the JSON must
    still be what it sends (the stand-ins come out altered, and the step is run on the values)."""

    def update_event_tags_facets(self, event: Event) -> Event:
        stepped = super().update_event_tags_facets(event)
        if isinstance(stepped, RunEvent) and stepped.run.facets and "tags" in stepped.run.facets:
            for tag in stepped.run.facets["tags"].tags:
                tag.value = f"<{tag.value}>"
        return stepped


def test_a_tags_step_that_alters_values_is_run_on_the_values() -> None:
    transport = RecordingTransport()
    client = _ValueChangingClient(transport=transport)
    events = [
        LineageEvent(
            EventType.START,
            datetime(2026, 11, 25, tzinfo=timezone.utc),
            f"0190f1d2-0000-7000-8000-00000000000{i}",
            JobRef("ns", "job.step"),
            JobKind.JOB,
            run_tags=(("dagster.run_id", f"run-{i}"), ("dagster.step_key", "step")),
        )
        for i in range(3)
    ]
    for event in events:
        client.emit(to_event(event, ENGINE))
    steps = ClientSteps.of(client)
    assert steps is not None
    writer = EventJsonWriter(ENGINE, steps.additions)
    assert [writer.json(event) for event in events] == transport.sent
    assert "<run-2>" in transport.sent[2]
