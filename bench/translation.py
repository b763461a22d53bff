"""Figures of the pure domain: translation rate over synthetic records, and cursor sizes."""

from __future__ import annotations

import uuid

from openlineage.client.serde import Serde

from bench.measure import median_rate
from ol_dagster.adapters.dagster_events import GlobalPosition, PerRunPosition
from ol_dagster.adapters.event_json import EventJsonWriter
from ol_dagster.adapters.json_cursor import encode
from ol_dagster.adapters.openlineage_emitter import to_event
from ol_dagster.domain.lineage import LineageEvent
from ol_dagster.domain.records import DagsterRecord
from ol_dagster.domain.run_state import RunState, TailState
from ol_dagster.domain.translate import Translator


def synthetic_records(runs: int, steps: int) -> list[DagsterRecord]:
    """The records a run of a `steps`-op job writes that ol-dagster translates."""
    records: list[DagsterRecord] = []
    clock, storage_id = 1_700_000_000.0, 0

    def add(kind: str, run_id: str, step: str | None = None) -> None:
        nonlocal clock, storage_id
        clock += 0.01
        storage_id += 1
        records.append(DagsterRecord(kind, run_id, "bench_job", clock, storage_id, step, "bench"))

    for _ in range(runs):
        run_id = str(uuid.uuid4())
        add("RUN_START", run_id)
        for index in range(steps):
            add("STEP_START", run_id, f"op_{index}")
            add("STEP_SUCCESS", run_id, f"op_{index}")
        add("RUN_SUCCESS", run_id)
    return records


def bench_translation(repeat: int) -> float:
    records = synthetic_records(runs=2_000, steps=10)

    def translate() -> int:
        Translator("default").translate_all(RunState(), records)
        return len(records)

    return median_rate(translate, repeat).per_second


def lineage_events(runs: int, steps: int) -> list[LineageEvent]:
    """The events of `runs` runs of a `steps`-op job, as the catch-up would emit them."""
    events, _, _ = Translator("default").translate_all(RunState(), synthetic_records(runs, steps))
    return [event for event in events if isinstance(event, LineageEvent)]  # all of them


def encoding_costs(repeat: int) -> dict[str, float]:
    """Microseconds an event of each way to write an event as OpenLineage JSON: the one
    mapping (`event_json`, shared parts' text kept per batch), and building the client's
    objects from it and writing them with the client's Serde (what other transports get)."""
    events = lineage_events(runs=200, steps=10)

    def written() -> int:
        writer = EventJsonWriter(ENGINE)
        for event in events:
            writer.json(event)
        return len(events)

    def client_objects() -> int:
        for event in events:
            Serde.to_json(to_event(event, ENGINE))
        return len(events)

    return {
        "event_json (the one mapping), text of shared parts kept": 1e6
        / median_rate(written, repeat).per_second,
        "the client's objects built from it, written by Serde": 1e6
        / median_rate(client_objects, repeat).per_second,
    }


ENGINE = "bench"


def cursor_sizes(open_runs: int) -> dict[str, int]:
    """Bytes of the cursor with `open_runs` runs open, each with one step running."""
    translator, runs = Translator("default"), RunState()
    records = synthetic_records(runs=open_runs, steps=1)
    started = [r for r in records if r.kind in ("RUN_START", "STEP_START")]
    translator.translate_all(runs, started)
    last = started[-1]
    per_run = PerRunPosition(last.storage_id, {r.run_id: r.storage_id for r in started})
    global_position = GlobalPosition(last.storage_id)
    return {
        "global storage id": len(encode(TailState(global_position, runs, last.timestamp))),
        "per run (sharded SQLite)": len(encode(TailState(per_run, runs, last.timestamp))),
    }
