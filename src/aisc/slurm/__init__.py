"""Slurm, one package: the client (``commands``, ``rest``, ``backend``, plain data in ``types``,
host lists in ``hosts``, the pure provisioning ``plan``) and the platform's side around it
(``desired`` state, the ``sync``, the job loop in ``runner``, ``accounting`` ingest).
"""
