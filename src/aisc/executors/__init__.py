"""Executors: where jobs actually run (local subprocesses now, Slurm later)."""
