"""One typed settings object, read once from ``AISC_*`` environment variables.

Domain code never reads ``os.environ``: the edge (CLI, ASGI app factory, tests) builds a
``Settings`` and passes it in.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Configuration of one aisc deployment."""

    model_config = SettingsConfigDict(env_prefix="AISC_", extra="ignore", frozen=True)

    data_dir: Path = Field(default=Path("var"), description="where the default SQLite file lives")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; SQLite file under data_dir when unset, "
        "postgresql://... for production",
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    sqlite_busy_timeout_ms: int = Field(default=30_000, ge=0)
    log_level: str = "info"
    log_format: Literal["text", "json"] = Field(
        default="text",
        description="text lines, or one JSON object a line (time, level, logger, message, "
        "exception; the access log's request fields) for a log collector",
    )
    run_dir: Path | None = Field(
        default=None, description="job working directories and logs (default data_dir/runs)"
    )
    job_isolation: Literal["sandbox", "none"] = Field(
        default="sandbox",
        description="local executor: sandbox runs each project's jobs under an account of its "
        "own in Bubblewrap (needs root and bwrap; tenant jobs are refused where it cannot be "
        "set up); none runs them as the platform's user, for a single-user development machine",
    )
    job_readonly_paths: list[Path] = Field(
        default_factory=list,
        description="more directories shown read-only to sandboxed jobs (a JSON list, e.g. "
        '["/opt/conda"]); never the data directory',
    )
    scheduler_interval_s: float = Field(default=2.0, gt=0, le=3600)
    preemption_grace_s: int = Field(default=30, ge=0, le=3600)
    oidc_issuer: str | None = Field(
        default=None, description="OpenID provider (issuer URL); unset: no OIDC sign-in"
    )
    oidc_client_id: str | None = None
    oidc_client_secret: SecretStr | None = None
    oidc_redirect_url: str | None = Field(
        default=None,
        description="the callback URL registered at the provider, if not this server's own "
        "/api/v1/auth/oidc/callback (e.g. behind a proxy)",
    )
    smtp_host: str | None = Field(
        default=None, description="send notifications by e-mail through this SMTP server"
    )
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_sender: str = "aisc@localhost"
    smtp_starttls: bool = False
    max_body_bytes: int = Field(
        default=1_048_576,
        ge=1024,
        description="largest request body accepted (413 beyond it), except where uploads go",
    )
    max_upload_bytes: int = Field(
        default=33_554_432,
        ge=1024,
        description="largest request body accepted where files are uploaded (inventory import)",
    )
    metrics_public: bool = Field(
        default=False,
        description="serve /metrics to anyone (a scraper on a private network); otherwise it "
        "needs a signed-in operator or auditor (e.g. an API token)",
    )
    cookie_secure: bool = Field(
        default=True,
        description="mark the session cookie Secure (browsers still send it to localhost over "
        "plain HTTP); turn off only for a test server on another host without TLS",
    )
    sign_in_per_minute: int = Field(
        default=10,
        ge=1,
        le=1_000_000,
        description="sign-in attempts (API, portal, OIDC callback) one client address may make "
        "a minute, in bursts of as many; more are answered 429 with Retry-After",
    )
    costly_per_minute: int = Field(
        default=120,
        ge=1,
        le=1_000_000,
        description="calls of other costly anonymous endpoints (the portal's cost estimate) one "
        "client address may make a minute",
    )
    sign_in_hash_concurrency: int | None = Field(
        default=None,
        ge=1,
        le=64,
        description="password checks (about 0.2 s of argon2 on four threads each) that may run "
        "at once in one server process (default: a quarter of the cores, at least 1); more "
        "sign-ins wait briefly, then are answered 429",
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="addresses or networks (CIDR) of reverse proxies whose X-Forwarded-For is "
        "believed; everyone else is known by the socket's address",
    )

    audit_key_file: Path | None = Field(
        default=None,
        description="the audit trail's HMAC keys, outside the database (default "
        "data_dir/audit.key, created 0600 on first use); the checkpoint signing key sits "
        "beside it as FILE.ed25519",
    )

    executor: Literal["local", "slurm"] = Field(
        default="local",
        description="where jobs run: local subprocesses (the embedded default) or a Slurm cluster",
    )
    slurm_cluster: str = Field(
        default="slurm", min_length=1, max_length=64, description="the cluster's name in usage keys"
    )
    slurm_rest_url: str | None = Field(
        default=None, description="slurmrestd, e.g. http://127.0.0.1:6820; unset: sbatch only"
    )
    slurm_jwt_key_file: Path | None = Field(
        default=None,
        description="the cluster's JWT key: aisc signs a short token per submitting user",
    )
    slurm_token: SecretStr | None = Field(
        default=None, description="a fixed slurmrestd token (instead of the key file)"
    )
    slurm_token_user: str | None = Field(default=None, description="the fixed token's user")
    slurm_bin_dir: Path | None = Field(
        default=None, description="where sbatch, sacct, sacctmgr ... live (default: PATH)"
    )
    slurm_job_root: Path | None = Field(
        default=None,
        description="job directories and logs, on a file system the nodes share "
        "(default data_dir/slurm-jobs)",
    )
    slurm_account_prefix: str = Field(
        default="award-",
        pattern=r"^[a-z][a-z0-9-]{0,19}$",
        description="Slurm accounts, QOS and reservations of awards are named PREFIX<award id>",
    )
    slurm_sync_interval_s: float = Field(default=300.0, gt=0, le=86_400)
    slurm_gres_types: dict[str, str] = Field(
        default_factory=dict,
        description="GPU model code -> Slurm GRES type (default: the code's first part, "
        "lower-cased: H800-SXM5-80GB -> h800)",
    )

    @field_validator("database_url")
    @classmethod
    def _normalise_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip()
        # psycopg 3 is the driver we ship; accept the common spellings of a PostgreSQL URL.
        for prefix in ("postgresql://", "postgres://"):
            if value.startswith(prefix):
                return "postgresql+psycopg://" + value[len(prefix) :]
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _check_proxies(cls, value: list[str]) -> list[str]:
        for item in value:
            try:
                ipaddress.ip_network(item.strip(), strict=False)
            except ValueError as exc:
                raise ValueError(f"trusted_proxies: {item!r} is not an address or network") from exc
        return [item.strip() for item in value]

    @property
    def effective_hash_concurrency(self) -> int:
        # Each argon2 check runs on four threads (p=4): a quarter of the cores keeps the rest free.
        return self.sign_in_hash_concurrency or max(1, (os.cpu_count() or 1) // 4)

    @property
    def effective_run_dir(self) -> Path:
        # Absolute: job slices run in their own directories, and Slurm's nodes know nothing of
        # the platform's working directory.
        return (self.run_dir or self.data_dir / "runs").absolute()

    @property
    def effective_audit_key_file(self) -> Path:
        return (self.audit_key_file or self.data_dir / "audit.key").absolute()

    @property
    def effective_slurm_job_root(self) -> Path:
        return (self.slurm_job_root or self.data_dir / "slurm-jobs").absolute()

    def gres_type(self, gpu_model: str) -> str:
        """The Slurm GRES type of a platform GPU model."""
        return self.slurm_gres_types.get(gpu_model) or gpu_model.split("-", 1)[0].lower()

    @property
    def effective_database_url(self) -> str:
        """The database URL in force: the configured one, or the default SQLite file."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'aisc.db'}"
