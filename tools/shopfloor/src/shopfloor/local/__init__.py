"""The local stack: the shop as local processes behind an edge router (run, edge)."""

DEFAULT_EDGE_PORT = 8000
