"""The Slurm client a deployment's settings describe."""

from __future__ import annotations

from aisc.settings import Settings
from aisc.slurm.backend import SlurmBackend
from aisc.slurm.commands import SlurmCommands
from aisc.slurm.rest import SlurmRest, Tokens


def backend_from_settings(settings: Settings) -> SlurmBackend:
    """slurmrestd when a URL and a key or token are configured; Slurm's commands always."""
    commands = SlurmCommands(bin_dir=settings.slurm_bin_dir)
    rest = None
    if settings.slurm_rest_url and (settings.slurm_jwt_key_file or settings.slurm_token):
        tokens = Tokens(
            key_file=settings.slurm_jwt_key_file,
            token=settings.slurm_token.get_secret_value() if settings.slurm_token else None,
            token_user=settings.slurm_token_user,
        )
        rest = SlurmRest(settings.slurm_rest_url, tokens)
    return SlurmBackend(commands, rest)
