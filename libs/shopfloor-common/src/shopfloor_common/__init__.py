"""What every Shopfloor service shares, so that no service re-implements it.

settings (env-only config, validated at start), logs (JSON lines with a request id), observability
(request id, metrics and access-log middleware), health (livez/readyz and the draining state),
server (uvicorn with a drain-then-exit SIGTERM), errors (RFC 9457 problem+json), auth (the admin
key), faults (the fault switch for chaos runs and labs), app (wires it all). Installed by a
service's extras only (extras.py): db (SQLAlchemy async + Alembic; extra `db`), cache (Redis or
in-process, degrading to misses; extra `cache`) and redis_connection (TLS, AUTH and a refused
configuration reported, for the cache and the gateway's rate limit; Redis from `cache`, or the
service's own dependency), client (service-to-service HTTP with timeouts, retries and a circuit
breaker; extra `client`).
"""
