"""Jobs: the submission gateway, job state, and what users see of it."""
