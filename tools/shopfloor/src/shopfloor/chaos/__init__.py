"""Chaos: the fault catalogue, local fault injection, Chaos Toolkit experiments and resilience records."""
