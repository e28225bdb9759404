"""The OpenAPI schema documents every status each operation can answer, errors with the error body's schema."""

import json

import pytest
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer

from engage_sync.api.errors import ERROR_CODES

pytestmark = pytest.mark.django_db


def openapi_document() -> dict:
    """The schema as /api/schema/ serves it (plain JSON types)."""
    return json.loads(OpenApiJsonRenderer().render(SchemaGenerator().get_schema(request=None, public=True)))


def _statuses(document: dict, method: str, path: str) -> set[str]:
    return set(document["paths"][path][method]["responses"])


def test_every_operation_documents_auth_rate_limit_and_accept_errors_with_the_error_body():
    document = openapi_document()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert {"401", "403", "406", "429"} <= set(operation["responses"]), (method, path)
            for status, response in operation["responses"].items():
                if status >= "400":
                    assert response["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorBody"}


def test_writes_document_bad_bodies_and_creates_document_conflicts_and_unavailable_mailboxes():
    document = openapi_document()
    for path in ("/api/mailboxes/{mailbox_id}/emails/", "/api/mailboxes/{mailbox_id}/contacts/", "/api/mailboxes/{mailbox_id}/events/"):
        assert {"200", "201", "400", "404", "409", "413", "415", "422"} <= _statuses(document, "post", path)
    for method in ("put", "patch"):
        assert {"400", "404", "413", "415"} <= _statuses(document, method, "/api/mailboxes/{mailbox_id}/contacts/{record_id}/")
    assert "404" in _statuses(document, "get", "/api/emails/{id}/")


def test_the_error_body_schema_lists_every_stable_code():
    components = openapi_document()["components"]["schemas"]
    detail = components["ErrorDetail"]
    code = detail["properties"]["code"]
    enum = components[(code.get("$ref") or code["allOf"][0]["$ref"]).rsplit("/", 1)[1]]["enum"]
    assert sorted(enum) == ERROR_CODES
    assert detail["required"] == ["code", "message"]
