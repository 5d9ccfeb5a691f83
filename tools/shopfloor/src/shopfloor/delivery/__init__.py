"""Delivery: render, bump, promote, images, changed, smoke."""
