"""Assertions shared by tests."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from aisc.audit.models import AuditEvent


def audit_count(uow: Any) -> int:
    with uow() as ctx:
        return int(ctx.db.execute(select(func.count()).select_from(AuditEvent)).scalar_one())


def error_field(response: Any) -> str:
    """The field an error response names."""
    return str(response.json()["detail"]["field"])
