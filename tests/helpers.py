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


def refused(cli: Any, *args: str, expect: int, says: str, uow: Any = None, **kw: Any) -> Any:
    """Run an ``aisc`` command that must be refused: exit code ``expect``, a message saying
    ``says`` (the field or the reason), and, given ``uow``, no audit event written: every
    action audits itself in its own transaction, so none means the action did not happen."""
    before = audit_count(uow) if uow is not None else None
    result = cli(*args, expect=expect, **kw)
    assert says in result.output, f"aisc {' '.join(args)}: expected {says!r} in\n{result.output}"
    if uow is not None:
        assert audit_count(uow) == before, f"aisc {' '.join(args)} was refused but audited"
    return result
