"""Docs generated from the code (config-table)."""
