"""Datasets for Dagster assets: OpenLineage names from their definitions and events.

Definition-time facts (where the data lives, owners, description, tags, upstream assets) are not in
the event log; they come from the `Definitions` port (the sensor's code location, a workspace, the
GraphQL API of the webserver). An asset no adapter defines is named from its events' metadata.

Naming, by what Dagster metadata says:
- `dagster/uri` (`s3://bucket/key`, `gs://...`, `file:///path`, ...): the OpenLineage name of that
  location (namespace `s3://bucket`, name `key`; namespace `file`, name `/path`);
- `dagster/table_name` or `dagster/relation_identifier` with a storage kind (the asset's kinds or
  `dagster/storage_kind`): BigQuery's `bigquery` namespace, or the namespace configured for that
  kind (`OL_DAGSTER_STORAGE_NAMESPACES`, e.g. `{"postgres": "postgres://db:5432"}`): Dagster does
  not record the host or account those names need;
- otherwise the asset key path (`a/b/c`) in the Dagster asset namespace
  (`OL_DAGSTER_ASSET_NAMESPACE`).
A dataset named after its physical location links to its Dagster name with a `symlinks` facet:
whichever name a process gives, the Dagster name is on it.

Metadata is untrusted: anyone who can write to the instance can report any value. A value that
cannot be read (a row count that is NaN, infinite, negative or beyond 64 bits, a URI whose port is
not a number, a schema of the wrong shape) is left out of the dataset with one warning naming the
asset, the metadata key and where it came from (the storage id of its event, or the asset's
definition); the dataset and its event still go. No warning repeats the value of a URI, which may
hold credentials.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import replace
from functools import partial
from typing import Any, TypeVar
from urllib.parse import urlsplit

from dagster import AssetKey, MultiPartitionKey
from openlineage.client.naming import dataset as naming

from ol_dagster.adapters.dagster_definitions import (
    facts_of_metadata,
    metadata_value,
    plain_metadata,
)
from ol_dagster.domain.datasets import AssetFacts, CheckResult, ColumnSource, Dataset, DatasetId
from ol_dagster.domain.definitions import Layered
from ol_dagster.domain.ports import Definitions
from ol_dagster.domain.records import JobDocs

logger = logging.getLogger("ol_dagster")

_OBJECT_STORES = {"s3", "s3a", "s3n", "gs", "gcs", "abfss", "wasbs", "hdfs"}
_MAX_COUNT = 2**63 - 1
"""Row counts and sizes are 64-bit integers wherever OpenLineage backends keep them."""
_T = TypeVar("_T")


class Unreadable(ValueError):
    """A metadata value that cannot be read as what its key means: left out, with a warning."""


class AssetCatalog:
    def __init__(
        self,
        definitions: Definitions | None = None,
        asset_namespace: str = "dagster",
        storage_namespaces: Mapping[str, str] | None = None,
    ) -> None:
        self._definitions: Definitions = definitions if definitions is not None else Layered()
        self._asset_namespace = asset_namespace
        self._storage_namespaces = dict(storage_namespaces or {})
        self._datasets: dict[AssetKey, Dataset] = {}
        self._asset_steps: dict[tuple[str, str], tuple[tuple[str, ...], ...]] = {}
        self._step_datasets: dict[tuple[str, str], tuple[Dataset, ...]] = {}
        self.undefined: set[tuple[str, ...]] = set()
        """Assets met that no definitions adapter defines: named from their keys and events."""

    def dataset(self, key: AssetKey) -> Dataset:
        """The asset as a dataset, with what its definition says; no run-time metadata."""
        found = self._datasets.get(key)
        if found is None:
            found = self._datasets[key] = self._defined_dataset(key)
        return found

    def _facts(self, key: AssetKey) -> AssetFacts:
        path = tuple(key.path)
        facts = self._definitions.asset(path)
        if facts is None:
            self.undefined.add(path)
            return AssetFacts(path)
        return facts

    def undefined_note(self, where: str) -> str:
        """Why some assets are named by their keys, and how to name them as defined."""
        keys = sorted("/".join(key) for key in self.undefined)
        shown = ", ".join(keys[:3]) + (", ..." if len(keys) > 3 else "")
        return (
            f"{len(keys)} assets not defined in {where} ({shown}) are named from their keys "
            "and events: set OL_DAGSTER_GRAPHQL_URL to the webserver's /graphql to name them "
            "from their definitions in every code location"
        )

    def _defined_dataset(self, key: AssetKey) -> Dataset:
        facts = self._facts(key)
        alias = DatasetId(self._asset_namespace, "/".join(key.path))
        physical = self._physical_id(facts, "its definition")
        return Dataset(
            id=physical or alias,
            asset_key=tuple(key.path),
            alias=alias if physical else None,
            group=facts.group,
            description=facts.description,
            owners=facts.owners,
            tags=facts.tags,
            columns=facts.columns,
        )

    def inputs(self, key: AssetKey, logged: Mapping[AssetKey, str | None]) -> tuple[Dataset, ...]:
        """A materialization's upstream assets: those its event-log tags name (`logged`, with the
        data version read; any code location's assets), and those its definition adds (an
        upstream never materialized leaves no tag)."""
        keys = set(logged) | {AssetKey(list(parent)) for parent in self._facts(key).parents}
        return tuple(
            replace(self.dataset(parent), version=logged.get(parent))
            for parent in sorted(keys, key=str)
        )

    def _step_assets(self, job_name: str, step_key: str) -> tuple[tuple[str, ...], ...]:
        found = self._asset_steps.get((job_name, step_key))
        if found is None:
            found = self._definitions.step_assets(job_name, step_key) or ()
            self._asset_steps[(job_name, step_key)] = found
        return found

    def step_datasets(self, job_name: str, step_key: str) -> tuple[Dataset, ...]:
        """The assets a step computes or checks; () for a plain op. Asked for every step
        record: built once per step."""
        found = self._step_datasets.get((job_name, step_key))
        if found is None:
            keys = self._step_assets(job_name, step_key)
            found = tuple(self.dataset(AssetKey(list(k))) for k in keys)
            self._step_datasets[(job_name, step_key)] = found
        return found

    def job_docs(self, job_name: str) -> JobDocs | None:
        docs = self._definitions.job(job_name)
        return docs if docs is not None and docs != JobDocs() else None

    def step_docs(self, job_name: str, step_key: str) -> JobDocs | None:
        """An asset step's docs: its assets' descriptions, owners and code references."""
        keys = self._step_assets(job_name, step_key)
        facts = [f for f in (self._definitions.asset(key) for key in keys) if f is not None]
        descriptions = [f.description for f in facts if f.description]
        owners = tuple(dict.fromkeys(owner for f in facts for owner in f.owners))
        source = next((f for f in facts if f.source_url), None)
        docs = JobDocs(
            "\n\n".join(descriptions) or None,
            owners,
            source.source_url if source else None,
            source.source_path if source else None,
        )
        return docs if docs != JobDocs() else None

    def partition_window(self, job_name: str, partition_key: str) -> tuple[float, float] | None:
        """Start and end of a time partition of the job's, as POSIX seconds."""
        return self._definitions.partition_window(job_name, partition_key)

    def _physical_id(self, facts: AssetFacts, where: str) -> DatasetId | None:
        if facts.uri:
            return _read(_uri_id, facts.uri, "dagster/uri", facts.key, where)
        if not facts.table_name:
            return None
        kinds = ([facts.storage_kind] if facts.storage_kind else []) + sorted(facts.kinds)
        for kind in kinds:
            if kind == "bigquery":
                return _bigquery(facts.table_name)
            if kind in self._storage_namespaces:
                return DatasetId(self._storage_namespaces[kind], facts.table_name)
        return None

    def materialized(
        self,
        key: AssetKey,
        metadata: Mapping[str, Any],
        partition: str | None,
        storage_id: int | None = None,
    ) -> Dataset:
        """The asset with the run-time metadata of one materialization (the record at
        `storage_id`, which the warnings of values left out name)."""
        base = self.dataset(key)
        path, where = tuple(key.path), f"its event at storage id {storage_id}"
        logged = facts_of_metadata(path, _plain(metadata, path, where))
        if base.alias is None:  # no definition says where it lives: maybe the event does
            physical = self._physical_id(logged, where)
            if physical is not None:
                base = replace(base, id=physical, alias=base.id)
        lineage = _read(
            lambda entry: _column_lineage(entry, self.dataset),
            metadata.get("dagster/column_lineage"),
            "dagster/column_lineage",
            path,
            where,
        )
        return replace(
            base,
            columns=logged.columns or base.columns,
            column_lineage=lineage or (),
            row_count=_read(
                _count, metadata.get("dagster/row_count"), "dagster/row_count", path, where
            ),
            size_bytes=_read(
                _count, metadata.get("dagster/size_bytes"), "dagster/size_bytes", path, where
            ),
            partition=str(partition) if partition is not None else None,
            partition_dimensions=_dimensions(partition),
        )

    def observed(
        self,
        key: AssetKey,
        metadata: Mapping[str, Any],
        partition: str | None,
        version: str | None,
        storage_id: int | None = None,
    ) -> Dataset:
        """The asset as one observation saw it."""
        return replace(self.materialized(key, metadata, partition, storage_id), version=version)

    def checked(self, key: AssetKey, name: str, passed: bool, severity: str | None) -> Dataset:
        return replace(self.dataset(key), checks=(CheckResult(name, passed, severity),))


def _bigquery(table_name: str) -> DatasetId:
    """`project.dataset.table`, as the convention names a BigQuery table, without the backticks
    BigQuery's SQL quotes a table or its parts with (`` `p.d.t` ``, `` `p`.d.t ``), which no
    name holds; a name of other parts is kept so, its parts trimmed too."""
    parts = [part.strip() for part in table_name.replace("`", "").split(".")]
    if len(parts) == 3 and all(parts):
        table = naming.BigQuery(*parts)
        return DatasetId(table.get_namespace(), table.get_name())
    return DatasetId("bigquery", ".".join(parts))


def _read(
    read: Callable[[Any], _T], entry: Any, label: str, asset: tuple[str, ...], where: str
) -> _T | None:
    """`read(entry)`, the value of metadata key `label` of `asset`; None, with one warning, for
    a value it cannot read. What went wrong is named, not the value (a URI may hold a password)."""
    if entry is None:
        return None
    try:
        return read(entry)
    except Exception as error:  # noqa: BLE001  (untrusted metadata: left out, the event goes)
        why = str(error) if isinstance(error, Unreadable) else f"{type(error).__name__}"
        logger.warning(
            "ol-dagster: left %s out of asset %s, from %s: %s",
            label[:200],
            "/".join(asset)[:200],
            where,
            why,
        )
        return None


def _plain(metadata: Mapping[str, Any], asset: tuple[str, ...], where: str) -> dict[str, Any]:
    """`plain_metadata` of the entries that can be read: all at once, else each alone."""
    try:
        return plain_metadata(metadata)
    except Exception:  # noqa: BLE001  (one entry cannot be read: found below, and named)
        plain: dict[str, Any] = {}
        for label, entry in metadata.items():
            value = _read(partial(_plain_one, label), entry, label, asset, where)
            if value is not None:
                plain.update(value)
        return plain


def _plain_one(label: str, entry: Any) -> dict[str, Any]:
    return plain_metadata({label: entry})


def _count(entry: Any) -> int:
    """A row count or a size in bytes: a whole number from 0 to 2^63-1."""
    value = metadata_value(entry)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Unreadable(f"a {type(value).__name__}, not a number")
    if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
        raise Unreadable(f"{value!r} is not a whole number")
    if not 0 <= value <= _MAX_COUNT:
        shown = (
            f"{value:.3g}"
            if abs(value) < 10**300
            else f"an integer of {int(value).bit_length()} bits"
        )
        raise Unreadable(f"{shown} is out of range (0 to 2^63-1)")
    return int(value)


def _uri_id(uri: str) -> DatasetId:
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:  # a port that is not a number or beyond 65535, a bracket not closed
        raise Unreadable("not a URI (its host or port cannot be read)") from None
    scheme = parts.scheme.lower()
    try:
        named = _named(scheme, parts.hostname or "", port, parts.netloc, parts.path or uri)
    except ValueError:  # the convention's own checks: an empty bucket, key or path
        named = None
    if named is not None:
        return DatasetId(named.get_namespace(), named.get_name())
    # Host and port only, so that credentials in a URI never become part of a dataset's name;
    # except on Azure, where `container@account` is the name (no credential goes there).
    authority = (parts.hostname or "") + (f":{port}" if port else "")
    if scheme in ("abfss", "wasbs"):
        authority = parts.netloc
    if scheme in _OBJECT_STORES:
        return DatasetId(f"{scheme}://{authority}", parts.path.lstrip("/"))
    return DatasetId(f"{scheme}://{authority}", parts.path or "/")


def _named(
    scheme: str, host: str, port: int | None, netloc: str, path: str
) -> naming.DatasetNaming | None:
    """The dataset as OpenLineage's naming convention names it (openlineage-python's
    `naming`), where the convention covers the URI; None elsewhere. Object keys and paths are
    given without their leading slash (the convention's `{object key}`), except on a file
    system."""
    key = path.lstrip("/")
    if scheme in ("", "file"):
        local = not host or host == "localhost"
        return naming.LocalFileSystem(path) if local else naming.RemoteFileSystem(host, path)
    if scheme == "s3":
        return naming.S3(host, key)
    if scheme == "gs":
        return naming.GCS(host, key)
    if scheme == "hdfs" and port is not None:
        return naming.HDFS(host, str(port), key)
    container, _, service = netloc.partition("@")
    if scheme == "abfss" and service.endswith(_ADLS):
        return naming.ABFSS(container, service.removesuffix(_ADLS), key)
    return None


_ADLS = ".dfs.core.windows.net"


def _column_lineage(
    entry: Any, dataset_of: Any
) -> tuple[tuple[str, tuple[ColumnSource, ...]], ...]:
    deps_by_column = getattr(metadata_value(entry), "deps_by_column", None)
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
