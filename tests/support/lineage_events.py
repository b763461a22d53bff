"""Lineage events as the domain makes them, for the emitter suites."""

from __future__ import annotations

from datetime import datetime, timezone

from ol_dagster.domain.lineage import EventType, JobKind, JobRef, LineageEvent, ParentRef


def run_events(count: int, job: str = "job", parent: ParentRef | None = None) -> list[LineageEvent]:
    """START and COMPLETE of `count // 2` runs, one a job (`job0`, `job1`, ...), in order."""
    return [
        LineageEvent(
            event_type=EventType.START if i % 2 == 0 else EventType.COMPLETE,
            event_time=datetime(2026, 11, 25, 3, 0, i, tzinfo=timezone.utc),
            run_id=f"0190f1d2-0000-7000-8000-{i // 2:012d}",
            job=JobRef("default", f"{job}{i // 2}"),
            job_kind=JobKind.JOB,
            parent=parent,
        )
        for i in range(count)
    ]
