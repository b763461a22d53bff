"""Records -> lineage events: deterministic transitions of the run state, with no I/O."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime, timezone

from ol_dagster.domain.datasets import Dataset
from ol_dagster.domain.errors import TranslationDefect, UntranslatableRecord
from ol_dagster.domain.lineage import (
    DatasetObservation,
    Emittable,
    EventType,
    JobKind,
    JobRef,
    LineageEvent,
    ParentRef,
)
from ol_dagster.domain.ports import FacetContext, FacetsHook
from ol_dagster.domain.records import DagsterRecord, RecordKind
from ol_dagster.domain.run_ids import job_run_id, step_run_id
from ol_dagster.domain.run_state import OpenRun, OpenStep, RunState
from ol_dagster.domain.selection import Selection

_RUN_END = {
    RecordKind.RUN_SUCCESS: EventType.COMPLETE,
    RecordKind.RUN_FAILURE: EventType.FAIL,
    RecordKind.RUN_CANCELED: EventType.ABORT,
}
_STEP_END = {
    RecordKind.STEP_SUCCESS: EventType.COMPLETE,
    RecordKind.STEP_FAILURE: EventType.FAIL,
}
_STEP_BEGIN = (RecordKind.STEP_START, RecordKind.STEP_RESTARTED)
_STEP_BEGIN_NAMES = frozenset(kind.value for kind in _STEP_BEGIN)
_TERMINAL = frozenset({EventType.COMPLETE, EventType.FAIL, EventType.ABORT})
_ASSET_EVENTS = (RecordKind.ASSET_MATERIALIZATION, RecordKind.ASSET_CHECK_EVALUATION)
_ASSET_EVENT_NAMES = frozenset(
    kind.value for kind in (*_ASSET_EVENTS, RecordKind.ASSET_OBSERVATION)
)
_KINDS = {kind.value: kind for kind in RecordKind}


def _utc(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, tz=timezone.utc)


class Translator:
    """Turns Dagster records into lineage events, keeping open runs and steps in a `RunState`.

    A job run becomes one lineage run (job `<job>`); each attempt of each step becomes one lineage
    run (job `<job>.<step_key>`) whose parent is the job run. Every run gets one START and one
    terminal event: steps still open when their job run ends are ABORTed with it.
    """

    def __init__(
        self,
        default_namespace: str,
        dagster_ui_url: str | None = None,
        selection: Selection | None = None,
        job_namespace: str | None = None,
        facets_hook: FacetsHook | None = None,
    ) -> None:
        """`dagster_ui_url`: the Dagster UI's base URL, to link each run to its page;
        `selection`: which runs, steps and assets send lineage (default: all); `job_namespace`:
        the namespace of every job, instead of the run's code location's."""
        self.default_namespace = default_namespace
        self.dagster_ui_url = dagster_ui_url.rstrip("/") if dagster_ui_url else None
        self.selection = selection or Selection()
        self.job_namespace = job_namespace
        self.facets_hook = facets_hook

    def _with_added_facets(self, record: DagsterRecord, event: Emittable) -> Emittable:
        """`event` with the facets the user's hook adds to it."""
        if self.facets_hook is None or not isinstance(event, LineageEvent):
            return event
        datasets = event.inputs + event.outputs
        added = self.facets_hook.facets(
            FacetContext(
                event_type=event.event_type.value,
                job_namespace=event.job.namespace,
                job_name=event.job.name,
                dagster_run_id=record.run_id,
                dagster_job_name=record.job_name,
                step_key=record.step_key,
                run_tags=dict(record.run.tags),
                datasets=tuple((d.id.namespace, d.id.name) for d in datasets),
            )
        )
        by_dataset = dict(added.datasets)

        def with_facets(dataset: Dataset) -> Dataset:
            facets = by_dataset.get((dataset.id.namespace, dataset.id.name))
            return replace(dataset, added_facets=facets) if facets else dataset

        return replace(
            event,
            added_run_facets=added.run,
            added_job_facets=added.job,
            inputs=tuple(map(with_facets, event.inputs)),
            outputs=tuple(map(with_facets, event.outputs)),
        )

    def _namespace(self, record: DagsterRecord) -> str:
        return self.job_namespace or record.location or self.default_namespace

    def _selected(self, record: DagsterRecord) -> DagsterRecord | None:
        """`record` without the assets the selection leaves out; None when the selection
        leaves out its run, its step, or every asset it is about."""
        selection = self.selection
        if record.job_name and not selection.keeps_run(record.job_name, record.run.tags):
            return None
        if record.step_datasets and not selection.kept(record.step_datasets):
            return None
        if not record.datasets:
            return record
        kept = selection.kept(record.datasets)
        if not kept:
            return None
        return replace(record, datasets=kept, upstream=selection.kept(record.upstream))

    def _dagster_run(
        self, record: DagsterRecord, step_key: str | None = None, attempt: int | None = None
    ) -> tuple[tuple[str, str], ...]:
        """Run tags naming the Dagster run (and step attempt) behind an OpenLineage run, and its
        page in the Dagster UI: how a user gets from a lineage run to Dagster."""
        tags = [("dagster.run_id", record.run_id)]
        if step_key is not None and attempt is not None:
            tags += [("dagster.step_key", step_key), ("dagster.attempt", str(attempt))]
        if self.dagster_ui_url:
            tags.append(("dagster.run_url", f"{self.dagster_ui_url}/runs/{record.run_id}"))
        return tuple(tags)

    def translate(self, state: RunState, record: DagsterRecord) -> list[Emittable]:
        """The events `record` produces; `state` moves past it. Raises UntranslatableRecord."""
        if not self.selection.everything:
            selected = self._selected(record)
            if selected is None:
                return []
            record = selected
        if record.kind == RecordKind.ASSET_OBSERVATION.value:  # may come from no run at all
            return self._observed(record)
        if record.late:
            return self._late(state, record)
        kind = self._kind_of(record)
        if kind is RecordKind.RUN_START:
            return self._run_started(state, record)
        if kind in _RUN_END:
            return self._run_ended(state, record, _RUN_END[kind])
        if kind in _ASSET_EVENTS:
            return self._asset_event(state, record, kind)
        step_key = record.step_key
        if not step_key:
            raise UntranslatableRecord(
                record.run_id, record.storage_id, f"{kind.value} has no step key"
            )
        run = self._run_of(state, record)
        if kind in _STEP_BEGIN:
            return self._step_started(run, record, step_key)
        if kind is RecordKind.STEP_UP_FOR_RETRY:
            return self._step_ended(run, record, step_key, EventType.FAIL, retrying=True)
        return self._step_ended(run, record, step_key, _STEP_END[kind], retrying=False)

    def translate_all(
        self, state: RunState, records: Iterable[DagsterRecord]
    ) -> tuple[list[Emittable], list[int], list[UntranslatableRecord]]:
        """Events of all `records`, how many each record produced, and the records skipped."""
        events: list[Emittable] = []
        counts: list[int] = []
        skipped: list[UntranslatableRecord] = []
        for record in records:
            if record.defect is not None and record.kind in _ASSET_EVENT_NAMES:
                # its assets could not be read: kept for a resend, never sent without them
                skipped.append(_defect(record, record.defect))
                counts.append(0)
                continue
            try:
                produced = self.translate(state, record)
                if self.facets_hook is not None:
                    produced = [self._with_added_facets(record, e) for e in produced]
            except UntranslatableRecord as error:
                skipped.append(error)
                produced = []
            except Exception as error:  # noqa: BLE001  (a defect costs this record alone)
                skipped.append(_defect(record, error))
                produced = []
            events.extend(produced)
            counts.append(len(produced))
        return events, counts, skipped

    def _late(self, state: RunState, record: DagsterRecord) -> list[Emittable]:
        """A record committed after the reader had read past its storage id.

        Each Dagster process writes its records one after the other, so a late record is, for
        the process that wrote it, the next one: it moves its run's state as any record does. If
        its run has ended (or was never read), its event is sent as it would have been named,
        without reopening the run; a run joined before its start arrived gets its START.
        """
        on_time = replace(record, late=False)
        run = state.runs.get(record.run_id)
        if run is None:
            return self.translate(RunState(), on_time)
        if record.kind == RecordKind.RUN_START.value:
            return [self._job_event(EventType.START, record, run)]
        step = run.steps.get(record.step_key) if record.step_key else None
        if record.step_key and (step is None or step.started_at is None):
            if step is not None and record.kind in _STEP_BEGIN_NAMES:
                return self.translate(state, on_time)  # the next attempt of a step up for retry
            # Its step has ended (or never began here): named as it was, reopening nothing.
            return self.translate(RunState({record.run_id: run.copy()}), on_time)
        return self.translate(state, on_time)

    @staticmethod
    def _kind_of(record: DagsterRecord) -> RecordKind:
        kind = _KINDS.get(record.kind)
        if kind is None:
            raise UntranslatableRecord(
                record.run_id, record.storage_id, f"unknown event type {record.kind!r}"
            )
        if not record.job_name:
            raise UntranslatableRecord(record.run_id, record.storage_id, "the record names no job")
        return kind

    def _job_of(self, record: DagsterRecord) -> JobRef:
        return JobRef(self._namespace(record), record.job_name)

    def _run_of(self, state: RunState, record: DagsterRecord) -> OpenRun:
        """The open run of `record`; a run first seen after its start is joined from here on."""
        run = state.runs.get(record.run_id)
        if run is None:
            run = OpenRun(record.run_started_at or record.timestamp)
            state.runs[record.run_id] = run
        return run

    def _run_started(self, state: RunState, record: DagsterRecord) -> list[Emittable]:
        if record.run_id in state.runs:
            return []  # already open: a repeated record, or a run joined before its start was read
        run = OpenRun(record.timestamp)
        state.runs[record.run_id] = run
        return [self._job_event(EventType.START, record, run)]

    def _run_ended(
        self, state: RunState, record: DagsterRecord, event_type: EventType
    ) -> list[Emittable]:
        run = self._run_of(state, record)
        del state.runs[record.run_id]
        events: list[Emittable] = [
            self._step_event(EventType.ABORT, record, run, key, step)
            for key, step in run.steps.items()
            if step.started_at is not None
        ]
        outputs = tuple(Dataset(id=output, asset_key=()) for output in run.outputs)
        events.append(replace(self._job_event(event_type, record, run), outputs=outputs))
        return events

    @staticmethod
    def _observed(record: DagsterRecord) -> list[Emittable]:
        if not record.datasets:
            raise UntranslatableRecord(
                record.run_id, record.storage_id, "an observation of no asset"
            )
        return [DatasetObservation(_utc(record.timestamp), d) for d in record.datasets]

    def _asset_event(
        self, state: RunState, record: DagsterRecord, kind: RecordKind
    ) -> list[Emittable]:
        """A RUNNING event of the step (or job run) that materialized or checked assets.

        A materialization makes its asset an output and the asset's upstream assets inputs; a
        check makes its asset an input, carrying the check's outcome.
        """
        if not record.datasets:
            raise UntranslatableRecord(
                record.run_id, record.storage_id, f"{kind.value} names no asset"
            )
        run = self._run_of(state, record)
        if kind is RecordKind.ASSET_MATERIALIZATION:
            inputs, outputs = record.upstream, record.datasets
            run.outputs.extend(d.id for d in outputs if d.id not in run.outputs)
        else:
            inputs, outputs = record.datasets, ()
        if not record.step_key:
            event = self._job_event(EventType.RUNNING, record, run)
        else:
            attempt = run.steps.get(record.step_key)
            if attempt is None or attempt.started_at is None:
                # The attempt's start was never read (joined mid-step): open it from here, so
                # that its later events keep this one's run id.
                number = 1 if attempt is None else attempt.attempt + 1
                attempt = OpenStep(number, record.timestamp, asset=record.asset_step)
                run.steps[record.step_key] = attempt
            event = self._step_event(EventType.RUNNING, record, run, record.step_key, attempt)
        return [replace(event, inputs=inputs, outputs=outputs)]

    def _step_started(self, run: OpenRun, record: DagsterRecord, key: str) -> list[Emittable]:
        step = run.steps.get(key)
        if step is not None and step.started_at is not None:
            return []  # this attempt has begun already (Dagster may report a restart twice)
        number = 1 if step is None else step.attempt + 1
        attempt = OpenStep(number, record.timestamp, asset=record.asset_step)
        run.steps[key] = attempt
        return [self._step_event(EventType.START, record, run, key, attempt)]

    def _step_ended(
        self,
        run: OpenRun,
        record: DagsterRecord,
        key: str,
        event_type: EventType,
        *,
        retrying: bool,
    ) -> list[Emittable]:
        attempt = run.steps.get(key)
        if attempt is None or attempt.started_at is None:
            # The attempt's start was never read (joined mid-run): name it after this record.
            number = 1 if attempt is None else attempt.attempt + 1
            attempt = OpenStep(number, record.timestamp)
        if retrying:
            run.steps[key] = OpenStep(attempt.attempt, None, asset=attempt.asset)
        else:
            run.steps.pop(key, None)
        return [self._step_event(event_type, record, run, key, attempt)]

    def _job_event(
        self, event_type: EventType, record: DagsterRecord, run: OpenRun
    ) -> LineageEvent:
        facts = record.run
        starting = event_type is EventType.START
        return LineageEvent(
            event_type=event_type,
            event_time=_utc(record.timestamp),
            run_id=_job_run_id(record, run),
            job=self._job_of(record),
            job_kind=JobKind.JOB,
            parent=self._re_executed_from(record),
            error=record.error if event_type is EventType.FAIL else None,
            # The Dagster run behind it on its start and its end, where a user looks for it; the
            # run's own tags once, with its start: backends keep them for the run.
            run_tags=(self._dagster_run(record) if starting or event_type in _TERMINAL else ())
            + (facts.tags if starting else ()),
            nominal_time=_utc(facts.nominal_time) if starting and facts.nominal_time else None,
            nominal_end=_utc(facts.nominal_end) if starting and facts.nominal_end else None,
            job_docs=record.docs if starting else None,
        )

    def _re_executed_from(self, record: DagsterRecord) -> ParentRef | None:
        """A re-execution's parent run, and the root run of the chain it belongs to."""
        parent, root = record.run.parent, record.run.root
        if parent is None:
            return None
        root = root or parent
        namespace = self._namespace(record)
        return ParentRef(
            job_run_id(parent.run_id, parent.started_at),
            JobRef(namespace, parent.job_name),
            job_run_id(root.run_id, root.started_at),
            JobRef(namespace, root.job_name),
        )

    def _step_event(
        self,
        event_type: EventType,
        record: DagsterRecord,
        run: OpenRun,
        key: str,
        attempt: OpenStep,
    ) -> LineageEvent:
        """An event of a started step attempt (`attempt.started_at` is set)."""
        parent_job = self._job_of(record)
        parent_id = _job_run_id(record, run)
        chain = self._re_executed_from(record)
        root_id, root_job = (
            (chain.root_run_id, chain.root_job) if chain else (parent_id, parent_job)
        )
        # The time part is the job run's start: a step attempt is named by what every reader
        # sees the same (the Dagster run, its start, the step key, the attempt), not by which of
        # its records a reader happened to read first.
        run_id = attempt.run_id or step_run_id(record.run_id, key, attempt.attempt, run.started_at)
        return LineageEvent(
            event_type=event_type,
            event_time=_utc(record.timestamp),
            run_id=run_id,
            job=JobRef(parent_job.namespace, f"{parent_job.name}.{key}"),
            job_kind=JobKind.ASSET if record.asset_step or attempt.asset else JobKind.OP,
            parent=ParentRef(parent_id, parent_job, root_id, root_job),
            error=record.error if event_type is EventType.FAIL else None,
            run_tags=self._dagster_run(record, key, attempt.attempt)
            if event_type is EventType.START or event_type in _TERMINAL
            else (),
            job_docs=record.docs if event_type is EventType.START else None,
        )


def _job_run_id(record: DagsterRecord, run: OpenRun) -> str:
    return run.run_id or job_run_id(record.run_id, run.started_at)


def _defect(record: DagsterRecord, error: Exception | str) -> TranslationDefect:
    """A record that a defect of ol-dagster's kept from being translated: skipped and named (its
    storage id), so that it can be sent once ol-dagster is fixed; the rest of the read goes on."""
    return TranslationDefect(
        record.run_id,
        record.storage_id,
        f"{record.kind} could not be translated ({_named(error)}); "
        "please report it; once fixed, `ol-dagster dead-letters resend` (or `ol-dagster replay "
        f"--from-storage-id {record.storage_id - 1} --to-storage-id {record.storage_id}`) sends "
        "it",
        record.job_name,
    )


def _named(error: Exception | str) -> str:
    return error if isinstance(error, str) else f"{type(error).__name__}: {str(error)[:300]}"
