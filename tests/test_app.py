import pytest


def test_openapi_document_and_docs_are_served(client):
    document = client.get("/api/v1/openapi.json").json()
    assert document["info"]["title"] == "aisc"
    assert "/api/v1/applications/{application_id}/decision" in document["paths"]
    assert client.get("/api/v1/docs").status_code == 200
    assert client.get("/healthz").json() == {"status": "ok"}


def test_errors_are_json_with_a_code_and_the_field(client):
    response = client.get("/api/v1/scheme")
    assert response.status_code == 404
    assert response.json() == {
        "detail": {
            "code": "not_found",
            "field": "scheme",
            "message": "no scheme is set up yet: run `aisc scheme init`",
        }
    }
    assert client.get("/api/v1/nowhere").status_code == 404


def test_unreadable_bodies_and_unknown_paths_get_the_same_error_shape(client):
    broken = client.post(
        "/api/v1/organisations", content=b"\xff\xfe{", headers={"content-type": "application/json"}
    )
    assert broken.status_code == 400
    assert broken.json()["detail"]["code"] == "bad_request"
    missing = client.get("/api/v1/nowhere")
    assert missing.json() == {"detail": {"code": "not_found", "message": "Not Found"}}
    wrong_method = client.delete("/api/v1/scheme")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["detail"]["code"] == "method_not_allowed"


def test_every_operation_documents_its_error_responses(client):
    document = client.get("/api/v1/openapi.json").json()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status in ("400", "404", "409", "422"):
                assert status in operation["responses"], f"{method.upper()} {path}: {status}"


def test_api_docs_load_nothing_from_the_internet(client):
    page = client.get("/api/v1/docs").text
    assert "/api/v1/docs-assets/swagger-ui-bundle.js" in page
    assert "https://" not in page
    assert "http://" not in page
    js = client.get("/api/v1/docs-assets/swagger-ui-bundle.js")
    assert js.status_code == 200
    assert len(js.content) > 100_000
    assert client.get("/api/v1/docs-assets/swagger-ui.css").status_code == 200


@pytest.mark.parametrize(
    "path",
    ["/", "/healthz", "/api/v1/scheme", "/api/v1/nowhere", "/api/v1/openapi.json", "/api/v1/docs"],
)
def test_security_headers_on_every_response(client, path):
    headers = client.get(path).headers
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in headers["content-security-policy"]


def test_secrets_in_query_strings_never_reach_the_access_log(client):
    import logging

    from aisc.app import RedactSecrets

    access = logging.getLogger("uvicorn.access")
    assert any(isinstance(f, RedactSecrets) for f in access.filters)  # installed at start-up
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        (
            "127.0.0.1:5000",
            "GET",
            "/api/v1/auth/oidc/callback?code=abc123&state=xyz&x=1",
            "1.1",
            303,
        ),
        None,
    )
    RedactSecrets().filter(record)
    line = record.getMessage()
    assert "abc123" not in line
    assert "xyz" not in line
    assert "code=[redacted]&state=[redacted]&x=1" in line


def test_nul_characters_are_refused_anywhere_in_the_input(client, uow):
    from tests.helpers import audit_count

    before = audit_count(uow)
    body = {"email": "a@b.c\x00", "name": "x"}
    refused = client.post("/api/v1/people", json=body)
    assert refused.status_code == 422
    assert "NUL" in refused.json()["detail"]["message"]
    nested = client.post("/api/v1/people", json={"email": "a@b.cd", "name": "x", "roles": ["\x00"]})
    assert nested.status_code == 422
    assert client.get("/api/v1/applications", params={"q": "a\x00b"}).status_code == 422
    assert client.get("/api/v1/price-lists/v1%00").status_code == 422
    assert audit_count(uow) == before
