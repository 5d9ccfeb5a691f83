"""Troubleshooting labs that grade themselves: `shopfloor lab` (labs/, docs/labs.md)."""
