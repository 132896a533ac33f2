"""The platform's side of Slurm: provisioning sync, the job hand-over loop, accounting ingest.

``aisc.executors.slurm`` talks to Slurm (commands, slurmrestd, plain data, the provisioning
plan); this package reads and writes the platform's database around it.
"""
