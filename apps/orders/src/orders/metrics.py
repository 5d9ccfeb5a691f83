"""The orders service's own Prometheus metrics (HTTP and upstream-call metrics come from shopfloor_common)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

ORDERS_CREATED = Counter(
    "orders_created_total",
    "New orders, by the status their checkout answered with (confirmed, rejected, pending; cancelled when a cancel "
    "overtook the reservation).",
    ["outcome"],
)
ORDER_TRANSITIONS = Counter(
    "orders_transitions_total",
    "Order status changes; from=none is an order being placed.",
    ["from", "to"],
)
RESERVATION_DURATION = Histogram(
    "orders_reservation_duration_seconds",
    "Time to get catalog's answer to a reservation, retries included, by outcome (reserved, refused, unavailable).",
    ["outcome"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
PENDING_OLDEST_AGE = Gauge(
    "orders_pending_oldest_age_seconds",
    "Age of the oldest PENDING order (0 when there is none); updated by each reconciler pass.",
)
RELEASES_PENDING = Gauge(
    "orders_release_pending",
    "Cancelled orders whose stock catalog has not yet confirmed released; updated by each reconciler pass.",
)
RECONCILED = Counter(
    "orders_reconciled_total",
    "Orders the reconciler worked on, by outcome: confirmed, rejected, cancelled (a PENDING order reserved after "
    "its cancel), released, nothing_to_release, recheck_release, unavailable, nothing_to_do, error.",
    ["outcome"],
)
