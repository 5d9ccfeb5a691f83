"""Shopfloor's web UI: pages rendered on the server, data fetched by the browser from the public API."""
