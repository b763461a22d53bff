"""A code location with the lineage sensor and no assets at all."""

import os

from dagster import Definitions

from ol_dagster import openlineage_sensor

defs = Definitions(
    sensors=[
        openlineage_sensor(
            minimum_interval_seconds=int(os.environ.get("OL_DAGSTER_TEST_SENSOR_INTERVAL", "5"))
        )
    ]
)
