"""Shopfloor catalog: products, stock reservations and product images."""
