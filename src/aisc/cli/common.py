"""Shared CLI plumbing: settings, the unit of work, input files and output."""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import typer
import yaml
from pydantic import BaseModel, ValidationError
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine

from aisc.context import Ctx, utcnow
from aisc.db.engine import engine_from_settings, make_sessionmaker, transaction
from aisc.db.migrate import require_current_schema
from aisc.deployment import Deployment
from aisc.errors import AiscError, ValidationFailed
from aisc.schemas import EARLIEST_DAY, LATEST_DAY
from aisc.settings import Settings

M = TypeVar("M", bound=BaseModel)
JsonOpt = typer.Option(False, "--json", help="print JSON instead of a table")


def bounded_day(value: datetime | None) -> datetime | None:
    """Refuse (exit 2, naming the option) a date outside the platform's calendar."""
    if value is not None and not EARLIEST_DAY <= value.date() <= LATEST_DAY:
        raise typer.BadParameter(
            f"{value.date().isoformat()} is not between {EARLIEST_DAY} and {LATEST_DAY}"
        )
    return value


DateOpt = typer.Option(
    None, formats=["%Y-%m-%d"], help="YYYY-MM-DD (default: today)", callback=bounded_day
)


class CliState:
    """Per-invocation settings and a lazily made engine."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._engine: Engine | None = None
        self._schema_checked = False
        self._deployment: Deployment | None = None

    @property
    def deployment(self) -> Deployment:
        """The deployment's collaborators, built once for this invocation."""
        if self._deployment is None:
            self._deployment = Deployment.from_settings(self.settings)
        return self._deployment

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = engine_from_settings(self.settings, pooled=False)
        return self._engine

    def ready_engine(self) -> Engine:
        """The engine, once the database is known to be at the current schema."""
        if not self._schema_checked:
            require_current_schema(self.engine)
            self._schema_checked = True
        return self.engine


_state: CliState | None = None


def set_state(new: CliState) -> None:
    """Called by the root command for each invocation."""
    global _state
    _state = new


def state() -> CliState:
    global _state
    if _state is None:
        _state = CliState(Settings())
    return _state


def actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


@contextmanager
def uow() -> Iterator[Ctx]:
    """One transaction for one command."""
    with transaction(make_sessionmaker(state().ready_engine())) as session:
        yield Ctx(db=session, now=utcnow(), actor=actor(), deployment=state().deployment)


def validation_error(exc: ValidationError) -> ValidationFailed:
    """A pydantic error as our own, naming the first field at fault (all of them in details)."""
    problems = [
        {"field": ".".join(str(p) for p in err["loc"]) or "input", "message": err["msg"]}
        for err in exc.errors()
    ]
    first = problems[0]
    summary = "; ".join(f"{p['field']}: {p['message']}" for p in problems)
    return ValidationFailed(summary, field=first["field"], details=problems)


def parse(schema: type[M], data: Any) -> M:
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc) from exc


def load_file(path: Path) -> Any:
    """Read a JSON or YAML document."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValidationFailed(f"cannot read {path}: {exc.strerror}", field="file") from exc
    try:
        if path.suffix.lower() == ".json":
            return json.loads(text)
        return yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ValidationFailed(f"{path} is not valid JSON/YAML: {exc}", field="file") from exc


def dump(value: BaseModel | Sequence[BaseModel] | dict[str, Any]) -> str:
    if isinstance(value, BaseModel):
        data: Any = value.model_dump(mode="json")
    elif isinstance(value, dict):
        data = value
    else:
        data = [v.model_dump(mode="json") for v in value]
    return json.dumps(data, indent=2, ensure_ascii=False)


def emit_one(model: BaseModel, as_json: bool) -> None:
    if as_json:
        typer.echo(dump(model))
        return
    table = Table(show_header=False, box=None)
    for key, value in model.model_dump(mode="json").items():
        table.add_row(f"[bold]{key}[/bold]", _cell(value))
    _console().print(table)


def emit_list(rows: Sequence[BaseModel], columns: Sequence[str], as_json: bool) -> None:
    if as_json:
        typer.echo(dump(rows))
        return
    if not rows:
        typer.echo("(none)")
        return
    table = Table(*columns)
    for row in rows:
        data = row.model_dump(mode="json")
        table.add_row(*(_cell(data.get(c)) for c in columns))
    _console().print(table)


def _console() -> Console:
    # Piped output (files, other programs, tests) is never truncated to a terminal's width.
    return Console() if sys.stdout.isatty() else Console(width=1000)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def fail(exc: AiscError) -> None:
    typer.echo(f"error: {exc.message}", err=True)
    raise typer.Exit(exc.exit_code)
