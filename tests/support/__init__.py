"""Real parts for the tests: an HTTP backend, the official schemas, Dagster instances and jobs."""
