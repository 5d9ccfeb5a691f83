"""Observability: SLOs as code, the local Prometheus and Alertmanager, alerts, reports, logs."""
