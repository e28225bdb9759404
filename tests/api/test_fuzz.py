"""Property-based fuzz of the whole API against its own OpenAPI schema (schemathesis, through the WSGI app).

Each operation gets valid and invalid requests generated from the schema, on a mailbox and records that exist
and that the client may use, so requests get past the lookup to validation and storage. Any 5xx fails, and so
does any answer the schema does not document: an undocumented status, content type, or body shape. Bounded by
hypothesis' max_examples (no wall-clock limit): about 30 s for the whole file on the dev machine.
"""

import datetime as dt

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from outbox.models import OutgoingEmail
from sync.models import Contact, Event

from .test_schema_errors import openapi_document

pytestmark = pytest.mark.django_db

EXAMPLES_PER_OPERATION = 30
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def api_schema(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        return schemathesis.openapi.from_dict(openapi_document())


@pytest.fixture
def wsgi_app():
    """Django's WSGI app on this test's transaction: like Django's test client, it must not close the connection
    between requests (the test's data would be gone)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield WSGIHandler()
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def existing(mailbox):
    """One record of each kind in the mailbox, so detail operations reach validation instead of a 404."""
    contact = Contact.objects.create(mailbox=mailbox, given_name="Ada")
    start = dt.datetime(2027, 3, 27, 10, tzinfo=dt.UTC)
    event = Event.objects.create(mailbox=mailbox, subject="Viewing", start=start, end=start + dt.timedelta(hours=1))
    email = OutgoingEmail.objects.create(mailbox=mailbox, idempotency_key="fuzz", to=["client@buyer.example"], subject="Hi")
    return {"mailbox_id": mailbox.pk, "contact": contact.pk, "event": event.pk, "id": email.pk}


def _operations() -> list[tuple[str, str]]:
    return [(method.upper(), path) for path, ops in openapi_document()["paths"].items() for method in ops]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
@pytest.mark.parametrize(("method", "path"), _operations(), ids=lambda value: value)
def test_no_request_the_schema_allows_or_forbids_gets_a_5xx_or_an_undocumented_answer(
    api_schema, api_client, wsgi_app, existing, method, path, mode
):
    authorization = api_client._credentials["HTTP_AUTHORIZATION"]
    path_parameters = {"mailbox_id": existing["mailbox_id"]}
    if "{record_id}" in path:
        path_parameters["record_id"] = str(existing["contact" if "/contacts/" in path else "event"])
    if "{id}" in path:
        path_parameters["id"] = str(existing["id"])
    if mode == GenerationMode.NEGATIVE and method in ("GET", "DELETE"):
        path_parameters = {}  # nothing else to make invalid: the ids are (a non-integer mailbox, a non-UUID record)
    strategy = api_schema[path][method].as_strategy(
        generation_mode=mode, path_parameters=path_parameters, headers={"Authorization": authorization}
    )

    @given(case=strategy)
    @hypothesis_settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None, derandomize=True,
                         phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))  # fmt: skip
    def fuzz(case):
        response = case.call(base_url="http://testserver", app=wsgi_app)
        answered.append(response.status_code)
        case.validate_response(response, checks=CHECKS)  # raises on a 5xx or an undocumented answer

    answered: list[int] = []
    fuzz()
    # The requests reached the endpoint, not only the router's 404 (the path ids were fixed to existing rows)
    assert path_parameters == {} or any(status != 404 for status in answered), answered
