"""Schemathesis sends every operation of the OpenAPI schema data that fits it and data that does
not (its coverage phase: boundary values, NULs, huge numbers; then random fuzzing), taking turns
among every role: whatever it sends, Docket never answers with a server error.

Derandomized, so a run is reproducible, and few random examples per operation, so it stays short.
schemathesis' pytest loader for fixtures does not run under pytest 9 (it rewrites node ids), so the
tests it builds per operation are taken from it and run here, failures reported together."""

from __future__ import annotations

import itertools

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.pytest.lazy import get_all_tests

from api.auth import issue_token
from domain.permissions import Role
from tests.conftest import JWT_SECRET
from tests.integration.http_helpers import open_ticket

TENANT = "fuzz"
EXAMPLES_PER_OPERATION = 10
FUZZING = settings(
    max_examples=EXAMPLES_PER_OPERATION, derandomize=True, database=None, deadline=None, suppress_health_check=list(HealthCheck)
)


def bearer(role: Role) -> dict[str, str]:
    ward = "w1" if role is Role.WARD_COUNCILLOR else None
    return {"Authorization": "Bearer " + issue_token(JWT_SECRET, tenant=TENANT, role=role, sub=f"{role}-fuzz", ward=ward)}


@pytest.fixture(scope="module")
def api_schema(client):
    return schemathesis.openapi.from_asgi("/schema/openapi.json", client.app)


def test_no_input_from_any_role_gives_a_server_error(client, api_schema):
    ticket_id = open_ticket(client, bearer(Role.MANAGER))["id"]
    callers = itertools.cycle([bearer(role) for role in Role])
    real_ticket = itertools.cycle([True, False])

    def send(case) -> None:
        # Half the time on a ticket that exists, so that more requests get past "not found".
        if "ticket_id" in (case.path_parameters or {}) and next(real_ticket):
            case.path_parameters["ticket_id"] = ticket_id
        case.call_and_validate(headers=next(callers), checks=[not_a_server_error])

    failures = {}
    for result in get_all_tests(schema=api_schema, test_func=send, settings=FUZZING, given_kwargs=None):
        operation, test = result.ok()
        try:
            test()
        except (Exception, BaseExceptionGroup) as error:  # every operation is tried; failures are reported together
            failures[operation.label] = error
    assert not failures, "\n\n".join(f"{label}:\n{error}" for label, error in failures.items())
