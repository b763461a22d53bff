"""Domain datasets -> openlineage-python `InputDataset` / `OutputDataset` with their facets."""

from __future__ import annotations

import json
from typing import Any

from openlineage.client.event_v2 import InputDataset, OutputDataset
from openlineage.client.facet_v2 import (
    DatasetFacet,
    InputDatasetFacet,
    OutputDatasetFacet,
    base_subset_dataset,
    column_lineage_dataset,
    data_quality_assertions_dataset,
    dataset_version_dataset,
    documentation_dataset,
    output_statistics_output_dataset,
    ownership_dataset,
    schema_dataset,
    symlinks_dataset,
    tags_dataset,
)

from ol_dagster.domain.datasets import AddedFacet, Dataset
from ol_dagster.version import PRODUCER


def input_dataset(dataset: Dataset) -> InputDataset:
    input_facets: dict[str, InputDatasetFacet] = {}
    if dataset.checks:
        input_facets["dataQualityAssertions"] = (
            data_quality_assertions_dataset.DataQualityAssertionsDatasetFacet(
                assertions=[
                    data_quality_assertions_dataset.Assertion(
                        assertion=check.name, success=check.passed, severity=check.severity
                    )
                    for check in dataset.checks
                ],
                producer=PRODUCER,
            )
        )
    return InputDataset(
        namespace=dataset.id.namespace,
        name=dataset.id.name,
        facets=dataset_facets(dataset),
        inputFacets=input_facets,
    )


def output_dataset(dataset: Dataset) -> OutputDataset:
    output_facets: dict[str, OutputDatasetFacet] = {}
    if dataset.row_count is not None or dataset.size_bytes is not None:
        output_facets["outputStatistics"] = (
            output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
                rowCount=dataset.row_count, size=dataset.size_bytes, producer=PRODUCER
            )
        )
    if dataset.partition is not None:
        partition = base_subset_dataset.Partition(
            identifier=dataset.partition, dimensions=dict(dataset.partition_dimensions)
        )
        output_facets["subset"] = base_subset_dataset.OutputSubsetOutputDatasetFacet(
            outputCondition=base_subset_dataset.PartitionSubsetCondition(
                partitions=[partition], type="partition"
            ),
            producer=PRODUCER,
        )
    return OutputDataset(
        namespace=dataset.id.namespace,
        name=dataset.id.name,
        facets=dataset_facets(dataset),
        outputFacets=output_facets,
    )


def dataset_facets(dataset: Dataset) -> dict[str, DatasetFacet]:
    facets: dict[str, DatasetFacet] = {}
    if dataset.columns:
        facets["schema"] = schema_dataset.SchemaDatasetFacet(
            fields=[
                schema_dataset.SchemaDatasetFacetFields(
                    name=c.name, type=c.type, description=c.description
                )
                for c in dataset.columns
            ],
            producer=PRODUCER,
        )
    if dataset.column_lineage:
        facets["columnLineage"] = column_lineage_dataset.ColumnLineageDatasetFacet(
            fields={
                column: column_lineage_dataset.Fields(
                    inputFields=[
                        column_lineage_dataset.InputField(
                            namespace=s.dataset.namespace, name=s.dataset.name, field=s.column
                        )
                        for s in sources
                    ]
                )
                for column, sources in dataset.column_lineage
            },
            producer=PRODUCER,
        )
    if dataset.description:
        facets["documentation"] = documentation_dataset.DocumentationDatasetFacet(
            description=dataset.description, producer=PRODUCER
        )
    if dataset.owners:
        facets["ownership"] = ownership_dataset.OwnershipDatasetFacet(
            owners=[ownership_dataset.Owner(name=n, type=t) for n, t in map(owner, dataset.owners)],
            producer=PRODUCER,
        )
    if dataset.tags:
        facets["tags"] = tags_dataset.TagsDatasetFacet(
            tags=[
                tags_dataset.TagsDatasetFacetFields(key=k, value=v, source="DAGSTER")
                for k, v in dataset.tags
            ],
            producer=PRODUCER,
        )
    if dataset.version is not None:
        facets["version"] = dataset_version_dataset.DatasetVersionDatasetFacet(
            datasetVersion=dataset.version, producer=PRODUCER
        )
    if dataset.alias is not None:
        facets["symlinks"] = symlinks_dataset.SymlinksDatasetFacet(
            identifiers=[
                symlinks_dataset.Identifier(
                    namespace=dataset.alias.namespace, name=dataset.alias.name, type="DAGSTER_ASSET"
                )
            ],
            producer=PRODUCER,
        )
    facets.update(added_facets(dataset.added_facets))
    return facets


def owner(dagster_owner: str) -> tuple[str, str]:
    """Name and type of a Dagster owner, which is `team:name` or an email address."""
    if dagster_owner.startswith("team:"):
        return dagster_owner.removeprefix("team:"), "TEAM"
    return dagster_owner, "USER"


def added_facets(added: tuple[AddedFacet, ...]) -> dict[str, Any]:
    """The facets the user's hook added, as JSON objects (the client's Serde writes them as
    they are, as the JSON writer does)."""
    return {name: json.loads(text) for name, text in added}
