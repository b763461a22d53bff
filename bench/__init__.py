"""`make bench`: throughput, lag and memory figures of ol-dagster (entry point: bench/run.py)."""
