"""Allocations: an award's compute placed on a partition, and the capacity check behind it."""
