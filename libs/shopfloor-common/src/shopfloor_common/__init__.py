"""What every Shopfloor service shares, so that no service re-implements it.

settings (env-only config, validated at start), logs (JSON lines with a request id), observability
(request id, metrics and access-log middleware), health (livez/readyz and the draining state),
server (uvicorn with a drain-then-exit SIGTERM), errors (RFC 9457 problem+json), db (SQLAlchemy
async + Alembic), cache (Redis or in-process, degrading to misses), redis_connection (TLS, AUTH and
a refused configuration reported, for the cache and the gateway's rate limit), client (service-to-service
HTTP with timeouts, retries and a circuit breaker), auth (the admin key), app (wires it all).
"""
