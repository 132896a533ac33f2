"""Tamper-evident audit trail: every state change writes one hash-chained event."""
