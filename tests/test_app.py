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
