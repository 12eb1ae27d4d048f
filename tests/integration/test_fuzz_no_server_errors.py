"""Schemathesis sends every operation of the OpenAPI schema data that fits it and data that does
not (its coverage phase: boundary values, NULs, huge numbers; then random fuzzing), taking turns
among every role: whatever it sends, Docket never answers with a server error.

Derandomized, so a run is reproducible, and few random examples per operation, so it stays short.
schemathesis' pytest loader for fixtures does not run under pytest 9 (it rewrites node ids), so the
tests it builds per operation are taken from it and run here, failures reported together."""

from __future__ import annotations

import itertools
import re
import uuid

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
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


def test_no_input_from_any_role_gives_a_server_error(client, api_schema, projectors):
    # The projections run, as they do beside any API: a read given `after` waits for them.
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


def operations_of(client) -> list[tuple[str, str, set[str]]]:
    """Every operation of the schema: its method, a concrete path, and the query parameters it documents."""
    schema = client.get("/schema/openapi.json").json()
    found = []
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method not in ("get", "put", "post", "patch", "delete"):
                continue
            parameters = operation.get("parameters", [])
            concrete = path
            for p in parameters:
                if p["in"] == "path":
                    concrete = concrete.replace("{" + p["name"] + "}", str(uuid.uuid4()))
            found.append((method.upper(), concrete, {p["name"] for p in parameters if p["in"] == "query"}))
    return found


hostile_text = st.one_of(st.text(max_size=30), st.sampled_from(["", "-1", "9" * 40, "1e3", "0x10", " 7", "\u0663", "%00"]))


def test_unknown_parameters_and_positions_never_give_a_server_error(client, projectors):
    """Strict queries and read-your-writes on every operation: any parameter name, any `after` and
    any Docket-After header is a 2xx, 3xx or 4xx; a name the operation does not document is a 400
    naming it."""
    ticket_id = open_ticket(client, bearer(Role.MANAGER))["id"]
    operations = operations_of(client)
    callers = itertools.cycle([bearer(role) for role in Role])

    @settings(FUZZING, max_examples=400)
    @given(
        operation=st.sampled_from(operations),
        name=st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=0x2FF, exclude_characters="&=#%+"), min_size=1, max_size=20),
        after=hostile_text,
        header=hostile_text.filter(lambda v: v.isprintable() and v.isascii()),
        on_real_ticket=st.booleans(),
    )
    def send(operation, name, after, header, on_real_ticket) -> None:
        method, path, documented = operation
        if on_real_ticket:
            path = re.sub(r"^/api/v1/tickets/[0-9a-f-]{36}", f"/api/v1/tickets/{ticket_id}", path)
        headers = {**next(callers), "Docket-After": header}
        response = client.request(method, path, params=[(name, "1"), ("after", after)], headers=headers)
        assert response.status_code < 500, (method, path, name, after, header, response.text)
        if name not in documented and name != "after":
            assert response.status_code == 400, (method, path, name, response.text)

    send()
