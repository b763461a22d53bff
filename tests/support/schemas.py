"""Validation of emitted events against the official OpenLineage JSON Schemas, read in place."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from referencing import Registry, Resource

DEFAULT_SPEC_DIR = Path(__file__).resolve().parents[3] / "shared" / "openlineage-spec"
CORE_ID = "https://openlineage.io/spec/2-0-2/OpenLineage.json"


def spec_dir() -> Path:
    return Path(os.environ.get("OPENLINEAGE_SPEC_DIR", str(DEFAULT_SPEC_DIR)))


class OpenLineageSchemas:
    """The core schema and one schema per facet key, from the spec folder."""

    def __init__(self, folder: Path) -> None:
        registry: Registry[Any] = Registry()
        # (where the facet sits, its key) -> schema $id; a key such as `documentation` names a
        # job facet and a dataset facet, each with its own file.
        self.facet_schemas: dict[tuple[str, str], str] = {}
        for path in sorted(folder.rglob("*.json")):
            if "tests" in path.relative_to(folder).parts:
                continue
            schema = json.loads(path.read_text())
            registry = registry.with_resource(schema["$id"], Resource.from_contents(schema))
            if path.parent.name == "facets":
                for key in schema.get("properties", {}):
                    self.facet_schemas[(_facet_place(path.stem), key)] = schema["$id"]
        self.registry = registry

    def _validator(self, schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
        return jsonschema.Draft202012Validator(
            schema, registry=self.registry, format_checker=jsonschema.FormatChecker()
        )

    def validate_event(self, event: dict[str, Any]) -> None:
        """A RunEvent, a JobEvent (a `job` and no `run`) or a DatasetEvent (a `dataset`)."""
        if "run" in event:
            self.validate_run_event(event)
            return
        if "job" in event:
            self._validator({"$ref": f"{CORE_ID}#/$defs/JobEvent"}).validate(event)
            assert event["schemaURL"] == f"{CORE_ID}#/$defs/JobEvent"
            for key, facet in event["job"].get("facets", {}).items():
                self.validate_facet("job", key, facet)
            return
        self._validator({"$ref": f"{CORE_ID}#/$defs/DatasetEvent"}).validate(event)
        assert event["schemaURL"] == f"{CORE_ID}#/$defs/DatasetEvent"
        for key, facet in event["dataset"].get("facets", {}).items():
            self.validate_facet("dataset", key, facet)

    def validate_run_event(self, event: dict[str, Any]) -> None:
        self._validator({"$ref": f"{CORE_ID}#/$defs/RunEvent"}).validate(event)
        assert event["schemaURL"] == f"{CORE_ID}#/$defs/RunEvent"
        facet_groups = [
            ("run", event["run"].get("facets", {})),
            ("job", event["job"].get("facets", {})),
        ]
        for dataset in event.get("inputs", []) + event.get("outputs", []):
            facet_groups.append(("dataset", dataset.get("facets", {})))
            facet_groups.append(("input", dataset.get("inputFacets", {})))
            facet_groups.append(("output", dataset.get("outputFacets", {})))
        for place, facets in facet_groups:
            for key, facet in facets.items():
                self.validate_facet(place, key, facet)

    def validate_facet(self, place: str, key: str, facet: dict[str, Any]) -> None:
        assert facet.get("_producer"), f"facet {key} has no _producer"
        assert facet.get("_schemaURL"), f"facet {key} has no _schemaURL"
        schema_id = self.facet_schemas.get((place, key))
        if schema_id is None and place in ("input", "output"):
            schema_id = self.facet_schemas.get(("dataset", key))  # e.g. `subset`
        if schema_id is None:
            return  # a custom facet: _producer and _schemaURL are all the spec asks
        self._validator({"$ref": schema_id}).validate({key: facet})
        assert facet["_schemaURL"].startswith(schema_id), (key, facet["_schemaURL"], schema_id)


def _facet_place(file_stem: str) -> str:
    """Where a facet file's facet sits in an event, from the file's name."""
    for suffix, place in (
        ("InputDatasetFacet", "input"),
        ("OutputDatasetFacet", "output"),
        ("DatasetFacet", "dataset"),
        ("RunFacet", "run"),
        ("JobFacet", "job"),
    ):
        if file_stem.endswith(suffix):
            return place
    return "other"


def load_schemas() -> OpenLineageSchemas:
    folder = spec_dir()
    if not (folder / "OpenLineage.json").is_file():
        if os.environ.get("CI") == "true":
            pytest.fail(f"the OpenLineage spec is missing at {folder} (set OPENLINEAGE_SPEC_DIR)")
        pytest.skip(f"the OpenLineage spec is not at {folder}; set OPENLINEAGE_SPEC_DIR")
    return OpenLineageSchemas(folder)
