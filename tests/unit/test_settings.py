"""Every setting's mistake is one line naming the variable and a valid example, and every
example given is valid."""

from __future__ import annotations

import pytest

from ol_dagster.app.settings import EXAMPLES, Settings, load_settings
from ol_dagster.domain.errors import ConfigurationError

BAD = {
    "openlineage_namespace": "",
    "openlineage_url": "localhost:5000",
    "ol_dagster_tick_budget_seconds": "abc",
    "ol_dagster_open_run_max_age_hours": "-1",
    "ol_dagster_gap_wait_seconds": "nan",
    "ol_dagster_ui_url": "dagster.internal",
    "ol_dagster_graphql_url": "ftp://x/graphql",
    "ol_dagster_graphql_max_bytes": "0",
    "ol_dagster_include": "team:data",
    "ol_dagster_exclude": "dbt",
    "ol_dagster_facets": "hooks.py",
    "ol_dagster_on_refusal": "dead_letter",
    "ol_dagster_set_aside_after": "-1",
    "ol_dagster_job_namespace": None,  # any text is a namespace
    "ol_dagster_asset_namespace": "",
    "ol_dagster_storage_namespaces": "notjson",
}


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)


def test_every_setting_has_an_example_and_a_bad_value_tried() -> None:
    assert set(EXAMPLES) | {"ol_dagster_job_namespace"} == set(Settings.model_fields)
    assert set(BAD) == set(Settings.model_fields)


@pytest.mark.parametrize("field", [f for f, bad in BAD.items() if bad is not None])
def test_a_bad_value_is_one_line_naming_the_variable_and_an_example(
    monkeypatch: pytest.MonkeyPatch, field: str
) -> None:
    monkeypatch.setenv(field.upper(), str(BAD[field]))
    with pytest.raises(ConfigurationError) as raised:
        load_settings()
    message = str(raised.value)
    assert "\n" not in message
    assert f"{field.upper()}: " in message
    assert f"(for example {field.upper()}={EXAMPLES[field]})" in message


@pytest.mark.parametrize("field", sorted(EXAMPLES))
def test_each_example_is_valid(monkeypatch: pytest.MonkeyPatch, field: str) -> None:
    monkeypatch.setenv(field.upper(), EXAMPLES[field].strip("'"))
    load_settings()
