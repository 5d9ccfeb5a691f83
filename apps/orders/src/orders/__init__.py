"""Shopfloor orders: idempotent checkout, the order lifecycle and stock reservations at catalog."""
