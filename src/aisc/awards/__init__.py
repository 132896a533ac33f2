"""Awards: what an approved application grants, and the project that uses it."""
