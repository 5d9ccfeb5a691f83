"""Docs generated from the code (config-table, service-readmes)."""
