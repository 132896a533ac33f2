"""Organisations, people, their roles and memberships."""
