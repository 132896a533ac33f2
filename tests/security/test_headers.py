"""What every response carries and what no request may exceed: request size limits, /metrics
for operators only, the Content-Security-Policy's nonce, HSTS over TLS.

Each test runs on SQLite and PostgreSQL (the ``engine`` fixture).
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from aisc.app import create_app
from aisc.middleware import BodyLimit
from aisc.portal.web import HERE as PORTAL_DIR
from aisc.settings import Settings
from tests.accounts.centre import Centre
from tests.portal.conftest import browsers, centre  # noqa: F401 (fixtures)
from tests.security.test_bad_input import rows

MIB = 1024 * 1024


def serve(engine: Any, clock: Any, https: bool = True, **settings: Any) -> TestClient:
    app = create_app(Settings(**settings), engine=engine, clock=clock)
    return TestClient(app, base_url="https://testserver" if https else "http://testserver")


# --- request size -------------------------------------------------------------------------


def test_a_body_over_the_limit_is_refused_before_it_is_read(engine, clock):
    before = rows(engine)
    with serve(engine, clock) as client:
        big = b"{" + b" " * (2 * MIB) + b"}"
        declared = client.post(
            "/api/v1/auth/login", content=big, headers={"content-type": "application/json"}
        )
        assert declared.status_code == 413
        assert declared.json()["detail"]["code"] == "too_large"
        assert "1,048,576 bytes" in declared.json()["detail"]["message"]

        def chunks() -> Any:  # no Content-Length: the body is counted while it streams
            for _ in range(40):
                yield b" " * 65_536

        streamed = client.post(
            "/api/v1/auth/login", content=chunks(), headers={"content-type": "application/json"}
        )
        assert streamed.status_code == 413
        # Portal forms too; and a body within the limit still arrives whole.
        assert client.post("/login", content=big).status_code == 413
        assert rows(engine) == before
        small = client.post("/api/v1/auth/login", json={"email": "a@b.cd", "password": "x" * 20})
        assert small.status_code == 401


def test_uploads_have_their_own_larger_limit(engine, clock):
    header = "name,gpu_model,gpu_count,cpu_cores,memory_gb,partition,rack,leaf_switch,installed_on"
    content = header + "\n" + "#" * (2 * MIB)
    with serve(engine, clock, max_upload_bytes=4 * MIB) as client:
        body = {"format": "csv", "content": content}
        # Past the body limit (1 MiB) but within the upload limit: read, then judged on content
        # (401 here: no credentials), never refused for its size.
        assert client.post("/api/v1/cluster/import", json=body).status_code == 401
        body["content"] = content + "#" * (3 * MIB)
        assert client.post("/api/v1/cluster/import", json=body).status_code == 413
    with serve(engine, clock, max_body_bytes=4096) as client:  # the limits are settings
        assert client.post("/api/v1/auth/login", content=b" " * 5000).status_code == 413


def test_a_streamed_body_is_read_no_further_than_the_limit():
    """An anonymous 200 MB body: the server stops reading at the limit (plus one chunk)."""
    reached = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        reached.append(scope["path"])

    limit, chunk, total = MIB, 65_536, 200 * MIB
    read = 0

    async def receive() -> dict[str, Any]:
        nonlocal read
        read += chunk
        return {"type": "http.request", "body": b" " * chunk, "more_body": read < total}

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "path": "/api/v1/auth/login", "headers": [], "scheme": "https"}
    middleware = BodyLimit(app, default=limit, limits={"/api/v1/cluster/import": 32 * MIB})
    asyncio.run(middleware(scope, receive, send))
    assert sent[0]["status"] == 413
    assert read <= limit + chunk
    assert reached == []  # the application never saw the request
    headers = dict(sent[0]["headers"])
    assert headers[b"connection"] == b"close"
    assert b"Strict-Transport-Security".lower() in headers


# --- /metrics -------------------------------------------------------------------------------


def test_metrics_need_an_operator_or_auditor(engine, clock, uow):
    built = Centre(uow, clock)
    with serve(engine, clock) as client:
        anonymous = client.get("/metrics")
        assert anonymous.status_code == 401
        assert "aisc_jobs" not in anonymous.text
        for role in ("pi", "reviewer", "secretariat", "finance"):
            assert client.get("/metrics", headers=built.personas[role].headers).status_code == 403
        for role in ("operator", "auditor"):
            answer = client.get("/metrics", headers=built.personas[role].headers)
            assert answer.status_code == 200
            assert "aisc_queue_length" in answer.text
    with serve(engine, clock, metrics_public=True) as client:
        assert client.get("/metrics").status_code == 200


# --- Content-Security-Policy and the other headers -----------------------------------------

PAGES = ["/", "/login", "/applications/new", "/projects", "/projects/{award}", "/secretariat"]


def policy(response: Any) -> dict[str, str]:
    text = response.headers["content-security-policy"]
    return {part.split()[0]: part for part in (p.strip() for p in text.split(";")) if part}


def test_pages_allow_no_inline_script_or_style_and_carry_a_fresh_nonce(
    browsers,  # noqa: F811
    centre,  # noqa: F811
):
    seen = set()
    for persona in ("anonymous", "pi", "secretariat"):
        client = browsers(persona)
        for path in PAGES:
            response = client.get(path.format(award=centre.award_a))
            rules = policy(response)
            assert "'unsafe-inline'" not in rules["script-src"], path
            assert "'unsafe-inline'" not in rules["style-src"], path
            assert rules["frame-ancestors"] == "frame-ancestors 'none'"
            nonce = re.search(r"'nonce-([A-Za-z0-9_-]{16,})'", rules["script-src"])
            assert nonce is not None, path
            seen.add(nonce.group(1))
            html = response.text
            for tag in re.findall(r"<script\b[^>]*>", html):
                assert "src=" in tag or f'nonce="{nonce.group(1)}"' in tag, (path, tag)
            assert not re.search(r"\son[a-z]+\s*=", html), path  # no inline event handlers
            assert not re.search(r"\sstyle\s*=", html), path  # no inline styles
            assert response.headers["x-content-type-options"] == "nosniff"
            assert response.headers["referrer-policy"] == "no-referrer"
    assert len(seen) == 3 * len(PAGES)  # one nonce per response


def test_no_template_has_inline_script_handlers_or_styles():
    for template in (PORTAL_DIR / "templates").glob("*.html"):
        text = template.read_text()
        assert not re.search(r"\son[a-z]+\s*=", text), template.name
        assert not re.search(r"\sstyle\s*=", text), template.name
        for tag in re.findall(r"<script\b[^>]*>", text):
            assert "src=" in tag or "csp_nonce" in tag, (template.name, tag)
    assert Path(PORTAL_DIR / "static" / "portal.js").exists()


def test_the_api_docs_start_by_the_responses_nonce(engine, clock):
    with serve(engine, clock) as client:
        docs = client.get("/api/v1/docs")
    rules = policy(docs)
    nonce = re.search(r"'nonce-([^']+)'", rules["script-src"])
    assert nonce is not None
    assert "'unsafe-inline'" not in rules["script-src"]
    inline = [t for t in re.findall(r"<script\b[^>]*>", docs.text) if "src=" not in t]
    assert inline
    assert all(f'nonce="{nonce.group(1)}"' in t for t in inline)


@pytest.mark.parametrize("path", ["/", "/api/v1/scheme", "/healthz", "/static/portal.css"])
def test_hsts_over_tls_only(engine, clock, path):
    with serve(engine, clock, https=True) as client:
        secure = client.get(path)
    assert secure.headers["strict-transport-security"].startswith("max-age=31536000")
    with serve(engine, clock, https=False) as client:
        plain = client.get(path)
    assert "strict-transport-security" not in plain.headers
    for response in (secure, plain):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
