"""Persistence: engine factory, declarative base, sessions and Alembic migrations."""
