"""Deterministic demo data for `make run`. The only app allowed to import every other app."""
