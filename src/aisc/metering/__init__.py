"""Metering: usage records (GPU-seconds by GPU model) from executors, idempotent."""
