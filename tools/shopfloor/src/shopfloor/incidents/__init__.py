"""Incidents: postmortems drafted from what a chaos run or a lab recorded, and linted."""
