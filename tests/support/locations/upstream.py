"""A code location of upstream assets (the example asset graph), for workspace tests."""

from tests.support.asset_graph import definitions

defs = definitions()
