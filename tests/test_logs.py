"""JSON log lines (``AISC_LOG_FORMAT=json``): the fields, exceptions, the access log's redaction."""

from __future__ import annotations

import io
import json
import logging
import logging.config
from collections.abc import Iterator

import pytest

from aisc.app import RedactSecrets
from aisc.logs import JsonFormatter, configure_logging, uvicorn_log_config
from aisc.settings import Settings


@pytest.fixture
def saved_logging() -> Iterator[None]:
    """dictConfig and configure_logging change process-wide loggers: put them back."""
    names = ("", "uvicorn", "uvicorn.error", "uvicorn.access")
    saved = {
        name: (
            list(logging.getLogger(name).handlers),
            list(logging.getLogger(name).filters),
            logging.getLogger(name).level,
            logging.getLogger(name).propagate,
        )
        for name in names
    }
    yield
    for name, (handlers, filters, level, propagate) in saved.items():
        logger = logging.getLogger(name)
        logger.handlers[:] = handlers
        logger.filters[:] = filters
        logger.setLevel(level)
        logger.propagate = propagate


def capture(logger_name: str) -> io.StringIO:
    """Point the handlers that serve ``logger_name`` at a buffer (their formatter kept)."""
    stream = io.StringIO()
    logger = logging.getLogger(logger_name)
    while logger is not None:
        for handler in logger.handlers:
            if isinstance(handler, logging.StreamHandler):
                handler.setStream(stream)
        if not logger.propagate:
            break
        logger = logger.parent  # type: ignore[assignment]
    return stream


def test_a_record_is_one_json_line_with_its_exception():
    record = logging.LogRecord(
        "aisc.worker", logging.ERROR, __file__, 1, "tick %d failed", (3,), None
    )
    try:
        raise RuntimeError("database went away")
    except RuntimeError:
        import sys

        record.exc_info = sys.exc_info()
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["level"] == "ERROR"
    assert entry["logger"] == "aisc.worker"
    assert entry["message"] == "tick 3 failed"
    assert entry["time"].endswith("+00:00")
    assert "RuntimeError: database went away" in entry["exception"]
    assert "Traceback" in entry["exception"]


def test_text_stays_uvicorns_own():
    assert uvicorn_log_config(Settings()) is None
    assert uvicorn_log_config(Settings(log_format="json")) is not None
    with pytest.raises(ValueError, match="log_format"):
        Settings(log_format="xml")


def test_the_servers_access_log_in_json_keeps_secrets_out(saved_logging):
    logging.config.dictConfig(uvicorn_log_config(Settings(log_format="json")))
    access = logging.getLogger("uvicorn.access")
    access.addFilter(RedactSecrets())  # as the application does at start-up
    stream = capture("uvicorn.access")
    access.info(
        '%s - "%s %s HTTP/%s" %d',
        "10.0.0.7:5123",
        "GET",
        "/auth/oidc/callback?code=s3cr3t&state=abc",
        "1.1",
        302,
    )
    entry = json.loads(stream.getvalue())
    assert entry["logger"] == "uvicorn.access"
    assert entry["method"] == "GET"
    assert entry["status"] == 302
    assert entry["client"] == "10.0.0.7:5123"
    assert entry["path"] == "/auth/oidc/callback?code=[redacted]&state=[redacted]"
    assert "s3cr3t" not in stream.getvalue()
    # the platform's own loggers go out as JSON too
    platform = capture("aisc.jobs")
    logging.getLogger("aisc.jobs").warning("job %s lost", 12)
    assert json.loads(platform.getvalue())["message"] == "job 12 lost"


def test_the_workers_logging_in_json(saved_logging):
    configure_logging(Settings(log_format="json", log_level="debug"))
    stream = capture("aisc.worker")
    logging.getLogger("aisc.worker").debug("outbox: %d sent", 4)
    entry = json.loads(stream.getvalue())
    assert (entry["level"], entry["logger"], entry["message"]) == (
        "DEBUG",
        "aisc.worker",
        "outbox: 4 sent",
    )
