"""Datasets for Dagster assets: OpenLineage names and facts from the sensor's code location.

Definition-time facts (where the data lives, owners, description, tags, upstream assets) are not in
the event log; a sensor is evaluated inside its code location, whose asset graph has them. Assets
of other code locations degrade to a Dagster-based name and the event's own metadata.

Naming, by what Dagster metadata says:
- `dagster/uri` (`s3://bucket/key`, `gs://...`, `file:///path`, ...): the OpenLineage name of that
  location (namespace `s3://bucket`, name `key`; namespace `file`, name `/path`);
- `dagster/table_name` or `dagster/relation_identifier` with a storage kind (the asset's kinds or
  `dagster/storage_kind`): BigQuery's `bigquery` namespace, or the namespace configured for that
  kind (`OL_DAGSTER_STORAGE_NAMESPACES`, e.g. `{"postgres": "postgres://db:5432"}`): Dagster does
  not record the host or account those names need;
- otherwise the asset key path (`a/b/c`) in the Dagster asset namespace
  (`OL_DAGSTER_ASSET_NAMESPACE`).
A dataset named after its physical location links to its Dagster name with a `symlinks` facet.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

from dagster import (
    AssetKey,
    LocalFileCodeReference,
    MultiPartitionKey,
    RepositoryDefinition,
    TimeWindowPartitionsDefinition,
    UrlCodeReference,
)

from ol_dagster.adapters.dagster_compat import assets_def_of_step
from ol_dagster.domain.datasets import CheckResult, Column, ColumnSource, Dataset, DatasetId
from ol_dagster.domain.records import JobDocs

logger = logging.getLogger("ol_dagster")

_OBJECT_STORES = {"s3", "s3a", "s3n", "gs", "gcs", "abfss", "wasbs", "hdfs"}


class AssetCatalog:
    def __init__(
        self,
        repository: RepositoryDefinition | None,
        asset_namespace: str = "dagster",
        storage_namespaces: Mapping[str, str] | None = None,
    ) -> None:
        self._repository = repository
        self._asset_namespace = asset_namespace
        self._storage_namespaces = dict(storage_namespaces or {})
        # Definitions do not change while a code location is loaded: look each up once.
        self._datasets: dict[AssetKey, Dataset] = {}
        self._asset_steps: dict[tuple[str, str], bool] = {}

    def _node(self, key: AssetKey) -> Any:
        graph = self._repository.asset_graph if self._repository is not None else None
        return graph.get(key) if graph is not None and graph.has(key) else None

    def dataset(self, key: AssetKey) -> Dataset:
        """The asset as a dataset, with what its definition says; no run-time metadata."""
        found = self._datasets.get(key)
        if found is None:
            found = self._datasets[key] = self._defined_dataset(key)
        return found

    def _defined_dataset(self, key: AssetKey) -> Dataset:
        node = self._node(key)
        metadata: Mapping[str, Any] = node.metadata if node is not None else {}
        kinds = set(node.kinds) if node is not None else set()
        alias = DatasetId(self._asset_namespace, "/".join(key.path))
        physical = self._physical_id(metadata, kinds)
        tags = tuple(
            (k, v)
            for k, v in sorted((node.tags if node is not None else {}).items())
            if not k.startswith("dagster/kind/")
        )
        return Dataset(
            id=physical or alias,
            asset_key=tuple(key.path),
            alias=alias if physical else None,
            description=node.description if node is not None else None,
            owners=tuple(node.owners) if node is not None else (),
            tags=tags,
            columns=_columns(metadata.get("dagster/column_schema")),
        )

    def inputs(self, key: AssetKey, logged: Mapping[AssetKey, str | None]) -> tuple[Dataset, ...]:
        """A materialization's upstream assets: those its event-log tags name (`logged`, with the
        data version read; any code location's assets), and those the code location's asset
        graph adds (an upstream never materialized leaves no tag)."""
        node = self._node(key)
        keys = set(logged) | (set(node.parent_keys) if node is not None else set())
        return tuple(
            replace(self.dataset(parent), version=logged.get(parent))
            for parent in sorted(keys, key=str)
        )

    def is_asset_step(self, job_name: str, step_key: str) -> bool:
        """Whether the step computes assets or asset checks (rather than a plain op)."""
        found = self._asset_steps.get((job_name, step_key))
        if found is None:
            found = self._asset_steps[(job_name, step_key)] = self._find_asset_step(
                job_name, step_key
            )
        return found

    def job_docs(self, job_name: str) -> JobDocs | None:
        repository = self._repository
        if repository is None or not repository.has_job(job_name):
            return None
        job = repository.get_job(job_name)
        return _docs(job.description, tuple(getattr(job, "owners", None) or ()), None)

    def step_docs(self, job_name: str, step_key: str) -> JobDocs | None:
        """An asset step's docs: its assets' descriptions, owners and code references."""
        assets = self._assets_of_step(job_name, step_key)
        if assets is None:
            return None
        nodes = [self._node(key) for key in sorted(assets.keys, key=str)]
        nodes = [node for node in nodes if node is not None]
        descriptions = [node.description for node in nodes if node.description]
        owners = tuple(dict.fromkeys(owner for node in nodes for owner in node.owners))
        references = [ref for node in nodes for ref in _code_references(node.metadata)]
        return _docs(
            "\n\n".join(descriptions) or None, owners, references[0] if references else None
        )

    def partition_window(self, job_name: str, partition_key: str) -> tuple[float, float] | None:
        """Start and end of a time partition of the job's, as POSIX seconds."""
        repository = self._repository
        if repository is None or not repository.has_job(job_name):
            return None
        partitions = repository.get_job(job_name).partitions_def
        if not isinstance(partitions, TimeWindowPartitionsDefinition):
            return None
        try:
            window = partitions.time_window_for_partition_key(partition_key)
        except Exception:  # noqa: BLE001  (a key of another definition: no window, no facet)
            return None
        return window.start.timestamp(), window.end.timestamp()

    def _assets_of_step(self, job_name: str, step_key: str) -> Any:
        repository = self._repository
        if repository is None or not repository.has_job(job_name):
            return None
        return assets_def_of_step(repository.get_job(job_name), step_key)

    def _find_asset_step(self, job_name: str, step_key: str) -> bool:
        return self._assets_of_step(job_name, step_key) is not None

    def _physical_id(self, metadata: Mapping[str, Any], kinds: set[str]) -> DatasetId | None:
        uri = _text(metadata.get("dagster/uri"))
        if uri:
            return _uri_id(uri)
        table = _text(metadata.get("dagster/table_name")) or _text(
            metadata.get("dagster/relation_identifier")
        )
        storage = _text(metadata.get("dagster/storage_kind"))
        if not table:
            return None
        for kind in ([storage] if storage else []) + sorted(kinds):
            if kind == "bigquery":
                return DatasetId("bigquery", table)
            if kind in self._storage_namespaces:
                return DatasetId(self._storage_namespaces[kind], table)
        return None

    def materialized(
        self, key: AssetKey, metadata: Mapping[str, Any], partition: str | None
    ) -> Dataset:
        """The asset with the run-time metadata of one materialization."""
        base = self.dataset(key)
        if base.alias is None:  # no definition says where it lives: maybe the event does
            physical = self._physical_id(metadata, set())
            if physical is not None:
                base = replace(base, id=physical, alias=base.id)
        lineage = _column_lineage(metadata.get("dagster/column_lineage"), self.dataset)
        columns = _columns(metadata.get("dagster/column_schema")) or base.columns
        return replace(
            base,
            columns=columns,
            column_lineage=lineage,
            row_count=_integer(metadata.get("dagster/row_count")),
            size_bytes=_integer(metadata.get("dagster/size_bytes")),
            partition=str(partition) if partition is not None else None,
            partition_dimensions=_dimensions(partition),
        )

    def observed(
        self, key: AssetKey, metadata: Mapping[str, Any], partition: str | None, version: str | None
    ) -> Dataset:
        """The asset as one observation saw it."""
        return replace(self.materialized(key, metadata, partition), version=version)

    def checked(self, key: AssetKey, name: str, passed: bool, severity: str | None) -> Dataset:
        return replace(self.dataset(key), checks=(CheckResult(name, passed, severity),))


def _docs(description: str | None, owners: tuple[str, ...], reference: Any) -> JobDocs | None:
    url = path = None
    if isinstance(reference, LocalFileCodeReference):
        path = reference.file_path
        line = f"#L{reference.line_number}" if reference.line_number else ""
        url = f"file://{reference.file_path}{line}"
    elif isinstance(reference, UrlCodeReference):
        url = reference.url
    if not (description or owners or url):
        return None
    return JobDocs(description, owners, url, path)


def _code_references(metadata: Mapping[str, Any]) -> list[Any]:
    value = _value(metadata.get("dagster/code_references"))
    return list(getattr(value, "code_references", None) or ())


def _value(entry: Any) -> Any:
    """A metadata entry's plain value (Dagster wraps values in `MetadataValue`s)."""
    return getattr(entry, "value", entry)


def _text(entry: Any) -> str | None:
    value = _value(entry)
    return str(value) if value not in (None, "") else None


def _integer(entry: Any) -> int | None:
    value = _value(entry)
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _uri_id(uri: str) -> DatasetId:
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if scheme in ("", "file"):
        return DatasetId("file", parts.path or uri)
    # Host and port only, so that credentials in a URI never become part of a dataset's name;
    # except on Azure, where `container@account` is the name (no credential goes there).
    authority = (parts.hostname or "") + (f":{parts.port}" if parts.port else "")
    if scheme in ("abfss", "wasbs"):
        authority = parts.netloc
    if scheme in _OBJECT_STORES:
        return DatasetId(f"{scheme}://{authority}", parts.path.lstrip("/"))
    return DatasetId(f"{scheme}://{authority}", parts.path or "/")


def _columns(entry: Any) -> tuple[Column, ...]:
    schema = getattr(_value(entry), "columns", None)
    if not schema:
        return ()
    return tuple(Column(c.name, c.type or None, c.description) for c in schema)


def _column_lineage(
    entry: Any, dataset_of: Any
) -> tuple[tuple[str, tuple[ColumnSource, ...]], ...]:
    deps_by_column = getattr(_value(entry), "deps_by_column", None)
    if not deps_by_column:
        return ()
    return tuple(
        (column, tuple(ColumnSource(dataset_of(dep.asset_key).id, dep.column_name) for dep in deps))
        for column, deps in sorted(deps_by_column.items())
    )


def _dimensions(partition: Any) -> tuple[tuple[str, str], ...]:
    if partition is None:
        return ()
    if isinstance(partition, MultiPartitionKey):
        return tuple(sorted(partition.keys_by_dimension.items()))
    return (("partition", str(partition)),)
