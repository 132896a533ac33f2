"""Trace-driven simulation on the platform's own scheduling core (no second scheduler)."""
