"""Measurement: benchmarks, the consistency check, screenshots (bench, check-consistency, screenshots)."""
