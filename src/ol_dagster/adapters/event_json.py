"""Domain events -> OpenLineage: the one mapping, written as the JSON the client's Serde writes.

Every event is encoded here once, whatever carries it: HTTP sends this text; any other transport
gets the client's objects built from it (`client_events`). Building the client's `event_v2`
objects per event instead (their validators parse every event time and check every facet's URLs)
cost 350 to 620 µs an event in `make bench`; these builders, with the text of what events share
kept (`EventJsonWriter`), cost 14 to 30 µs. Schema URLs are read from the client's facet classes,
never written here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from json.encoder import encode_basestring_ascii
from typing import Any

from openlineage.client.event_v2 import DatasetEvent, RunEvent
from openlineage.client.facet_v2 import (
    base_subset_dataset,
    column_lineage_dataset,
    data_quality_assertions_dataset,
    dataset_version_dataset,
    documentation_dataset,
    documentation_job,
    error_message_run,
    job_type_job,
    nominal_time_run,
    output_statistics_output_dataset,
    ownership_dataset,
    ownership_job,
    parent_run,
    processing_engine_run,
    schema_dataset,
    source_code_location_job,
    symlinks_dataset,
    tags_dataset,
    tags_run,
)

from ol_dagster.domain.datasets import AddedFacet, Dataset
from ol_dagster.domain.lineage import (
    DatasetObservation,
    Emittable,
    EventType,
    LineageEvent,
    ParentRef,
)
from ol_dagster.domain.records import ErrorDetail, JobDocs
from ol_dagster.version import PRODUCER, __version__

JsonDict = dict[str, Any]

_RUN_EVENT_SCHEMA = RunEvent._get_schema()
_DATASET_EVENT_SCHEMA = DatasetEvent._get_schema()


def _facet(schema_url: str, **fields: Any) -> JsonDict:
    """A facet as Serde writes it: producer, schema URL, and the fields that are not None."""
    facet: JsonDict = {"_producer": PRODUCER, "_schemaURL": schema_url}
    facet.update((name, value) for name, value in fields.items() if value is not None)
    return facet


# One schema URL per facet class, read once from the class itself.
_PARENT = parent_run.ParentRunFacet._get_schema()
_ERROR = error_message_run.ErrorMessageRunFacet._get_schema()
_RUN_TAGS = tags_run.TagsRunFacet._get_schema()
_NOMINAL = nominal_time_run.NominalTimeRunFacet._get_schema()
_ENGINE = processing_engine_run.ProcessingEngineRunFacet._get_schema()
_JOB_TYPE = job_type_job.JobTypeJobFacet._get_schema()
_JOB_DOCS = documentation_job.DocumentationJobFacet._get_schema()
_JOB_OWNERS = ownership_job.OwnershipJobFacet._get_schema()
_SOURCE = source_code_location_job.SourceCodeLocationJobFacet._get_schema()
_ASSERTIONS = data_quality_assertions_dataset.DataQualityAssertionsDatasetFacet._get_schema()
_STATISTICS = output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet._get_schema()
_SUBSET = base_subset_dataset.OutputSubsetOutputDatasetFacet._get_schema()
_SCHEMA = schema_dataset.SchemaDatasetFacet._get_schema()
_COLUMN_LINEAGE = column_lineage_dataset.ColumnLineageDatasetFacet._get_schema()
_DATASET_DOCS = documentation_dataset.DocumentationDatasetFacet._get_schema()
_DATASET_OWNERS = ownership_dataset.OwnershipDatasetFacet._get_schema()
_DATASET_TAGS = tags_dataset.TagsDatasetFacet._get_schema()
_VERSION = dataset_version_dataset.DatasetVersionDatasetFacet._get_schema()
_SYMLINKS = symlinks_dataset.SymlinksDatasetFacet._get_schema()


def owner(dagster_owner: str) -> tuple[str, str]:
    """Name and type of a Dagster owner, which is `team:name` or an email address."""
    if dagster_owner.startswith("team:"):
        return dagster_owner.removeprefix("team:"), "TEAM"
    return dagster_owner, "USER"


def added_facets(added: tuple[AddedFacet, ...]) -> JsonDict:
    """The facets the user's hook added, as the JSON objects it wrote."""
    return {name: json.loads(text) for name, text in added}


def event_dict(event: Emittable, engine_version: str) -> JsonDict:
    """The event as JSON values, keys as Serde orders them once written (`sort_keys`)."""
    if isinstance(event, DatasetObservation):
        dataset = event.dataset
        return {
            "dataset": {
                "facets": dataset_facets_dict(dataset),
                "name": dataset.id.name,
                "namespace": dataset.id.namespace,
            },
            "eventTime": event.event_time.isoformat(),
            "producer": PRODUCER,
            "schemaURL": _DATASET_EVENT_SCHEMA,
        }
    return run_event_dict(event, engine_version)


def run_event_dict(event: LineageEvent, engine_version: str) -> JsonDict:
    return {
        "eventTime": event.event_time.isoformat(),
        "eventType": event.event_type.value,
        "inputs": [input_dataset_dict(d) for d in event.inputs],
        "job": job_dict(event),
        "outputs": [output_dataset_dict(d) for d in event.outputs],
        "producer": PRODUCER,
        "run": {"facets": run_facets_dict(event, engine_version), "runId": event.run_id},
        "schemaURL": _RUN_EVENT_SCHEMA,
    }


def run_facets_dict(event: LineageEvent, engine_version: str) -> JsonDict:
    return {name: build() for name, _, build in run_facet_parts(event, engine_version)}


def run_facet_parts(
    event: LineageEvent, engine_version: str
) -> list[tuple[str, Hashable, Callable[[], Any]]]:
    """The event's run facets, in order (a later one of a name replaces an earlier one): each
    facet's name, what it is made of (the same name and key: the same facet), and its maker."""
    parts: list[tuple[str, Hashable, Callable[[], Any]]] = []
    if event.parent is not None:
        parts.append(("parent", event.parent, partial(_parent_facet, event.parent)))
    if event.error is not None:
        parts.append(("errorMessage", event.error, partial(_error_facet, event.error)))
    if event.run_tags:
        parts.append(("tags", event.run_tags, partial(_run_tags_facet, event.run_tags)))
    if event.nominal_time is not None:
        nominal = (event.nominal_time, event.nominal_end)
        parts.append(("nominalTime", nominal, partial(_nominal_facet, *nominal)))
    if event.event_type is EventType.START:
        parts.append(("processing_engine", None, partial(_engine_facet, engine_version)))
    parts.extend((name, text, partial(json.loads, text)) for name, text in event.added_run_facets)
    return parts


def _parent_facet(parent: ParentRef) -> JsonDict:
    return _facet(
        _PARENT,
        job={"facets": {}, "name": parent.job.name, "namespace": parent.job.namespace},
        root={
            "job": {
                "facets": {},
                "name": parent.root_job.name,
                "namespace": parent.root_job.namespace,
            },
            "run": {"facets": {}, "runId": parent.root_run_id},
        },
        run={"facets": {}, "runId": parent.run_id},
    )


def _error_facet(error: ErrorDetail) -> JsonDict:
    return _facet(
        _ERROR, message=error.message, programmingLanguage="python", stackTrace=error.stack_trace
    )


def _run_tags_facet(run_tags: tuple[tuple[str, str], ...]) -> JsonDict:
    return _facet(
        _RUN_TAGS, tags=[{"key": k, "source": "DAGSTER", "value": v} for k, v in run_tags]
    )


def _nominal_facet(start: datetime, end: datetime | None) -> JsonDict:
    return _facet(
        _NOMINAL,
        nominalStartTime=start.isoformat(),
        nominalEndTime=end.isoformat() if end is not None else None,
    )


def _engine_facet(engine_version: str) -> JsonDict:
    return _facet(
        _ENGINE, name="Dagster", openlineageAdapterVersion=__version__, version=engine_version
    )


def job_dict(event: LineageEvent) -> JsonDict:
    job_facets: JsonDict = {
        "jobType": _facet(
            _JOB_TYPE, integration="DAGSTER", jobType=event.job_kind.value, processingType="BATCH"
        )
    }
    if event.job_docs is not None:
        job_facets.update(_job_doc_facets(event.job_docs))
    job_facets.update(added_facets(event.added_job_facets))
    return {"facets": job_facets, "name": event.job.name, "namespace": event.job.namespace}


def _job_doc_facets(docs: JobDocs) -> JsonDict:
    facets = _documented(docs.description, docs.owners, _JOB_DOCS, _JOB_OWNERS)
    if docs.source_url:
        facets["sourceCodeLocation"] = _facet(
            _SOURCE,
            path=docs.source_path,
            type="file" if docs.source_path else "url",
            url=docs.source_url,
        )
    return facets


def input_dataset_dict(dataset: Dataset) -> JsonDict:
    input_facets: JsonDict = {}
    if dataset.checks:
        input_facets["dataQualityAssertions"] = _facet(
            _ASSERTIONS,
            assertions=[
                _present(
                    assertion=check.name, params={}, severity=check.severity, success=check.passed
                )
                for check in dataset.checks
            ],
        )
    return {
        "facets": dataset_facets_dict(dataset),
        "inputFacets": input_facets,
        "name": dataset.id.name,
        "namespace": dataset.id.namespace,
    }


def output_dataset_dict(dataset: Dataset) -> JsonDict:
    output_facets: JsonDict = {}
    if dataset.row_count is not None or dataset.size_bytes is not None:
        output_facets["outputStatistics"] = _facet(
            _STATISTICS, rowCount=dataset.row_count, size=dataset.size_bytes
        )
    if dataset.partition is not None:
        partition = {
            "dimensions": dict(dataset.partition_dimensions),
            "identifier": dataset.partition,
        }
        output_facets["subset"] = _facet(
            _SUBSET, outputCondition={"partitions": [partition], "type": "partition"}
        )
    return {
        "facets": dataset_facets_dict(dataset),
        "name": dataset.id.name,
        "namespace": dataset.id.namespace,
        "outputFacets": output_facets,
    }


def dataset_facets_dict(dataset: Dataset) -> JsonDict:
    facets: JsonDict = {}
    if dataset.columns:
        facets["schema"] = _facet(
            _SCHEMA,
            fields=[
                _present(description=c.description, fields=[], name=c.name, type=c.type)
                for c in dataset.columns
            ],
        )
    if dataset.column_lineage:
        facets["columnLineage"] = _facet(
            _COLUMN_LINEAGE,
            dataset=[],  # the facet's dataset-level lineage, which Dagster does not record
            fields={
                column: {
                    "inputFields": [
                        {
                            "field": s.column,
                            "name": s.dataset.name,
                            "namespace": s.dataset.namespace,
                            "transformations": [],
                        }
                        for s in sources
                    ]
                }
                for column, sources in dataset.column_lineage
            },
        )
    facets.update(_documented(dataset.description, dataset.owners, _DATASET_DOCS, _DATASET_OWNERS))
    if dataset.tags:
        facets["tags"] = _facet(
            _DATASET_TAGS,
            tags=[{"key": k, "source": "DAGSTER", "value": v} for k, v in dataset.tags],
        )
    if dataset.version is not None:
        facets["version"] = _facet(_VERSION, datasetVersion=dataset.version)
    if dataset.alias is not None:
        facets["symlinks"] = _facet(
            _SYMLINKS,
            identifiers=[
                {
                    "name": dataset.alias.name,
                    "namespace": dataset.alias.namespace,
                    "type": "DAGSTER_ASSET",
                }
            ],
        )
    facets.update(added_facets(dataset.added_facets))
    return facets


def _documented(
    description: str | None, owners: tuple[str, ...], docs_schema: str, owners_schema: str
) -> JsonDict:
    """The documentation and ownership facets (of a job or of a dataset: same fields)."""
    facets: JsonDict = {}
    if description:
        facets["documentation"] = _facet(docs_schema, description=description)
    if owners:
        facets["ownership"] = _facet(
            owners_schema,
            owners=[{"name": name, "type": kind} for name, kind in map(owner, owners)],
        )
    return facets


def _present(**fields: Any) -> JsonDict:
    """The fields that are not None, as Serde drops the others."""
    return {name: value for name, value in fields.items() if value is not None}


@dataclass(frozen=True, eq=False)
class Additions:
    """Facets something outside the domain adds to a run event (the client's steps), as JSON
    values by facet name. Compared by identity: one object stands for one set of additions."""

    run: JsonDict
    job: JsonDict


NO_ADDITIONS = Additions({}, {})

_dumps = json.JSONEncoder(sort_keys=True).encode
_string = encode_basestring_ascii
_PRODUCER_JSON = _string(PRODUCER)
_RUN_EVENT_SCHEMA_JSON = _string(_RUN_EVENT_SCHEMA)


class EventJsonWriter:
    """Writes events as `json.dumps(event_dict(event), sort_keys=True)` would, byte for byte.

    Most of an event is shared with the other events of its run: its job, its run facets (the
    parent, tags, nominal time) and its datasets. Their text is written once and kept, so an
    event costs a few dictionary look-ups and one string join. The kept text is not bounded:
    use one writer for one batch of events, not for a process's lifetime.
    """

    def __init__(
        self, engine_version: str, additions: Callable[[LineageEvent], Additions] | None = None
    ) -> None:
        self._engine_version = engine_version
        self._additions = additions
        self._jobs: dict[Hashable, str] = {}
        self._run_facets: dict[Hashable, str] = {}
        """The text of each run facet, by its name and key (`run_facet_parts`)."""
        self._datasets: dict[Hashable, str] = {}

    def json(self, event: Emittable) -> str:
        if isinstance(event, DatasetObservation):
            return _dumps(event_dict(event, self._engine_version))
        extra = self._additions(event) if self._additions is not None else NO_ADDITIONS
        job_key = (event.job, event.job_kind, event.job_docs, event.added_job_facets, extra)
        job = self._jobs.get(job_key)
        if job is None:
            body = job_dict(event)
            body["facets"].update(extra.job)
            job = self._jobs[job_key] = _dumps(body)
        facets = self._run_facets_json(event, extra)
        return "".join(
            (
                '{"eventTime": ',
                _string(event.event_time.isoformat()),
                ', "eventType": "',
                event.event_type.value,
                '", "inputs": ',
                self._dataset_list(event.inputs, input_dataset_dict),
                ', "job": ',
                job,
                ', "outputs": ',
                self._dataset_list(event.outputs, output_dataset_dict),
                ', "producer": ',
                _PRODUCER_JSON,
                ', "run": {"facets": ',
                facets,
                ', "runId": ',
                _string(event.run_id),
                '}, "schemaURL": ',
                _RUN_EVENT_SCHEMA_JSON,
                "}",
            )
        )

    def _run_facets_json(self, event: LineageEvent, extra: Additions) -> str:
        """The run facets object: each facet's text kept (a run's events share its parent, a
        step's events its tags), joined in the order of their names, as `sort_keys` orders."""
        kept, texts, added = self._run_facets, {}, extra.run
        for name, key, build in run_facet_parts(event, self._engine_version):
            if name in added:
                continue  # replaced by the addition of that name
            text = kept.get((name, key))
            if text is None:
                text = kept[(name, key)] = _dumps(build())
            texts[name] = text
        for name, value in added.items():
            text = kept.get((name, extra))
            if text is None:
                text = kept[(name, extra)] = _dumps(value)
            texts[name] = text
        return "{" + ", ".join(f"{_string(name)}: {texts[name]}" for name in sorted(texts)) + "}"

    def _dataset_list(
        self, datasets: tuple[Dataset, ...], build: Callable[[Dataset], JsonDict]
    ) -> str:
        if not datasets:
            return "[]"
        key = (build, datasets)
        text = self._datasets.get(key)
        if text is None:
            text = self._datasets[key] = _dumps([build(d) for d in datasets])
        return text
