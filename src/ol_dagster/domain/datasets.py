"""What the domain knows of a dataset: a Dagster asset, named the OpenLineage way.

Adapters fill these in from the event log (run-time metadata) and from the asset definitions
(definition-time metadata, `AssetFacts`, whichever adapter of the `Definitions` port read them);
the domain only places them on the right events.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeAlias

AddedFacet: TypeAlias = "tuple[str, str]"
"""A facet added by the user's facets hook: its name and its JSON text (checked to be a facet)."""


@dataclass(frozen=True, slots=True)
class DatasetId:
    namespace: str
    name: str


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type: str | None = None
    description: str | None = None


@dataclass(frozen=True, slots=True)
class ColumnSource:
    dataset: DatasetId
    column: str


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The outcome of a Dagster asset check on a dataset."""

    name: str
    passed: bool
    severity: str | None = None


@dataclass(frozen=True, slots=True)
class Dataset:
    id: DatasetId
    asset_key: tuple[str, ...]
    alias: DatasetId | None = None
    """The Dagster-based identity, when `id` names where the data physically lives."""
    partition: str | None = None
    partition_dimensions: tuple[tuple[str, str], ...] = ()
    description: str | None = None
    owners: tuple[str, ...] = ()
    tags: tuple[tuple[str, str], ...] = ()
    columns: tuple[Column, ...] = ()
    column_lineage: tuple[tuple[str, tuple[ColumnSource, ...]], ...] = ()
    row_count: int | None = None
    size_bytes: int | None = None
    checks: tuple[CheckResult, ...] = field(default=())
    version: str | None = None
    """Dagster's data version of the asset, when it has one."""
    group: str | None = None
    """The asset's Dagster group, from its definition."""
    added_facets: tuple[AddedFacet, ...] = ()
    """Facets the user's facets hook adds to this dataset in one event."""


@dataclass(frozen=True, slots=True)
class AssetFacts:
    """What an asset's definition says, which the event log does not: where its data lives, its
    documentation, its upstream assets. The same for every adapter that reads definitions (a
    code location in process, a workspace, the GraphQL API), so that every process names an
    asset the same way."""

    key: tuple[str, ...]
    uri: str | None = None
    """`dagster/uri`."""
    table_name: str | None = None
    """`dagster/table_name`, else `dagster/relation_identifier`."""
    storage_kind: str | None = None
    """`dagster/storage_kind`."""
    kinds: tuple[str, ...] = ()
    group: str | None = None
    description: str | None = None
    owners: tuple[str, ...] = ()
    """As Dagster writes them: an e-mail address, or `team:name`."""
    tags: tuple[tuple[str, str], ...] = ()
    """Definition tags, sorted, without Dagster's `dagster/kind/*` (those are `kinds`)."""
    columns: tuple[Column, ...] = ()
    parents: tuple[tuple[str, ...], ...] = ()
    source_url: str | None = None
    """Where its code is (the first `dagster/code_references` entry): a URL, or a file URL."""
    source_path: str | None = None
    """That code's local file, when the reference is a local file."""
