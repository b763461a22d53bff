"""A user's facets hook is checked like the built-in facets and never stops lineage: whatever it
returns or raises, the event goes out, with the facets that are facets."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from ol_dagster.adapters.user_facets import UserFacetsHook
from ol_dagster.domain.ports import AddedFacets, FacetContext
from ol_dagster.facets import Facets, facet

URL = "https://example.com/schemas/Facet.json"
CONTEXT = FacetContext(
    event_type="START",
    job_namespace="ns",
    job_name="job.step",
    dagster_run_id="r",
    dagster_job_name="job",
    step_key="step",
    run_tags={"team": "data"},
    datasets=(("s3://lake", "orders"),),
)


def _added(returned: Any) -> AddedFacets:
    return UserFacetsHook(lambda context: returned, "tests:hook").facets(CONTEXT)


@pytest.mark.parametrize(
    "returned",
    [
        Facets(run={"x": facet(URL, counts={1: "a", "b": 2})}),  # keys that do not sort
        Facets(run=[("x", facet(URL))]),  # type: ignore[arg-type]
        Facets(datasets={("s3://lake", "orders"): [facet(URL)]}),  # type: ignore[dict-item]
        Facets(run={"x": facet(URL, value=float("nan"))}),
        Facets(job={"x": facet("not a url")}),
        Facets(job={"tags": facet(URL)}),  # a facet ol-dagster writes
        "not facets",
    ],
)
def test_what_is_not_a_facet_is_left_out_with_a_warning(
    returned: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="ol_dagster"):
        added = _added(returned)
    assert added.run == () and added.job == ()
    assert all(facets == () for _, facets in added.datasets)
    assert "the facets hook tests:hook" in caplog.text


def test_a_hook_that_raises_leaves_the_event_without_its_facets() -> None:
    def hook(context: FacetContext) -> Facets:
        raise KeyError("cost_centre")

    assert UserFacetsHook(hook, "tests:hook").facets(CONTEXT) == AddedFacets()


def test_facets_are_written_as_the_client_writes_them_without_nulls() -> None:
    added = _added(
        Facets(
            run={"x": facet(URL, owner=None, items=[None, {}, 1], nested={"a": None, "b": 2})},
            datasets={("s3://lake", "orders"): {"y": facet(URL, n=1)}},
        )
    )
    [(name, text)] = added.run
    assert name == "x"
    written = json.loads(text)
    assert "owner" not in written and written["items"] == [1] and written["nested"] == {"b": 2}
    assert added.datasets == (
        (("s3://lake", "orders"), (("y", json.dumps(facet(URL, n=1), sort_keys=True)),)),
    )
