"""One typed settings object, read once from ``AISC_*`` environment variables.

Domain code never reads ``os.environ``: the edge (CLI, ASGI app factory, tests) builds a
``Settings`` and passes it in.
"""

from __future__ import annotations

from pathlib import Path

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
    run_dir: Path | None = Field(
        default=None, description="job working directories and logs (default data_dir/runs)"
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
    cookie_secure: bool = Field(
        default=True,
        description="mark the session cookie Secure (browsers still send it to localhost over "
        "plain HTTP); turn off only for a test server on another host without TLS",
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

    @property
    def effective_run_dir(self) -> Path:
        return self.run_dir or self.data_dir / "runs"

    @property
    def effective_database_url(self) -> str:
        """The database URL in force: the configured one, or the default SQLite file."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'aisc.db'}"
