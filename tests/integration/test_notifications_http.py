"""The notification endpoints over HTTP: rules versioned like routing rules, every bad document a
400 naming its field (never a 500, whatever is sent), who may do what, a ticket's deliveries with
their recipients masked, the suppression list, the reporter's opt-out, and team members' contacts."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import insert

from commands.deliveries import create_delivery_tables, deliveries
from domain.notification_rules import DEFAULT_DOCUMENT
from tests.integration.http_helpers import open_ticket, refused

RULES = "/api/v1/notification-rules"
SUPPRESSIONS = "/api/v1/suppressions"
A_RULE = {"name": "tell the reporter", "event": "StatusChanged", "recipients": ["reporter"], "channels": ["sms"]}


def test_the_defaults_hold_until_an_admin_sets_rules_and_each_put_is_a_new_version(client, auth):
    defaults = client.get(RULES, headers=auth("admin")).json()
    assert (defaults["version"], defaults["defaults"], defaults["webhook"]) == (0, True, None)
    assert [r["name"] for r in defaults["rules"]] == [r["name"] for r in DEFAULT_DOCUMENT]
    municipal = defaults["rules"][0]
    assert municipal["statuses"] == ["in_progress", "escalated", "resolved", "closed"] and municipal["templates"]["whatsapp"]["name"]

    first = client.put(RULES, json={"rules": [A_RULE]}, headers=auth("admin", sub="ada"))
    assert first.status_code == 200, first.text
    second = client.put(RULES, json={"rules": [A_RULE, {**A_RULE, "name": "and by email", "channels": ["email"]}]}, headers=auth("admin"))
    assert (first.json()["version"], second.json()["version"]) == (1, 2)
    current = client.get(RULES, headers=auth("auditor")).json()
    assert (current["version"], current["defaults"], current["set_by"]) == (2, False, "admin-1")
    assert [r["name"] for r in current["rules"]] == ["tell the reporter", "and by email"]
    assert current["rules"][0]["templates"] == {"sms": {"body": "Your report {tracking_number} ({title}) is now {status}. {link}"}}
    assert client.put(RULES, json={"rules": []}, headers=auth("admin")).json()["version"] == 3  # none at all is a choice too
    assert client.get(RULES, headers=auth("admin")).json()["rules"] == []


def test_only_an_admin_sets_rules_and_only_an_admin_or_auditor_reads_them(client, auth):
    refused(client.put(RULES, json={"rules": [A_RULE]}, headers=auth("manager")), 403, "role_not_allowed")
    refused(client.get(RULES, headers=auth("agent")), 403, "role_not_allowed")
    refused(client.get(RULES, headers=auth("reporter")), 403, "role_not_allowed")


def test_a_webhook_secret_is_never_answered_and_stays_when_a_new_version_leaves_it_out(client, auth):
    webhook = {"url": "https://hooks.example.org/docket", "secret": "s3cret-s3cret-s3cret"}
    rules = [{"name": "crm", "event": "Opened", "recipients": ["webhook"]}]
    assert client.put(RULES, json={"rules": rules, "webhook": webhook}, headers=auth("admin")).status_code == 200
    again = client.put(RULES, json={"rules": rules, "webhook": {"url": "https://hooks.example.org/v2"}}, headers=auth("admin"))
    assert again.status_code == 200, again.text
    answer = client.get(RULES, headers=auth("admin"))
    assert answer.json()["webhook"] == {"url": "https://hooks.example.org/v2", "secret_set": True}
    assert "s3cret" not in answer.text


WEBHOOK = {"url": "https://hooks.example.org/x", "secret": "0123456789abcdef"}


@pytest.mark.parametrize(
    ("document", "code", "field"),
    [
        ({"rules": [{**A_RULE, "templates": {"sms": {"body": "{status.__class__}"}}}]}, "invalid_template", "rules[0].templates.sms.body"),
        ({"rules": [{**A_RULE, "templates": {"sms": {"body": "{secret}"}}}]}, "unknown_placeholder", "rules[0].templates.sms.body"),
        ({"rules": [{**A_RULE, "templates": {"sms": {"body": "50% off {"}}}]}, "invalid_template", "rules[0].templates.sms.body"),
        ({"rules": [{**A_RULE, "templates": {"email": {"subject": "s", "text": "t"}}}]}, "invalid_template", "rules[0].templates.email"),
        (
            {"rules": [{**A_RULE, "channels": ["whatsapp"], "templates": {"whatsapp": {"name": "Bad Name"}}}]},
            "invalid_template",
            "rules[0].templates.whatsapp.name",
        ),
        (
            {"rules": [{**A_RULE, "channels": ["whatsapp"], "templates": {"whatsapp": {"name": "ok", "parameters": ["phone"]}}}]},
            "invalid_input",
            "rules[0].templates.whatsapp.parameters[0]",
        ),
        ({"rules": [{**A_RULE, "event": "Exploded"}]}, "invalid_input", "rules[0].event"),
        ({"rules": [{**A_RULE, "recipients": ["bob"]}]}, "invalid_recipients", "rules[0].recipients[0]"),
        ({"rules": [{**A_RULE, "recipients": ["0821234567"]}]}, "invalid_recipients", "rules[0].recipients[0]"),
        ({"rules": [{**A_RULE, "recipients": ["+27821234567"], "channels": ["email"]}]}, "invalid_channels", "rules[0].channels"),
        ({"rules": [{**A_RULE, "recipients": ["webhook"]}]}, "no_webhook", "rules[0].recipients[0]"),
        ({"rules": [{**A_RULE, "channels": ["sms", "sms"]}]}, "invalid_channels", "rules[0].channels"),
        ({"rules": [{**A_RULE, "event": "Opened", "statuses": ["open"]}]}, "invalid_rules", "rules[0].statuses"),
        ({"rules": [A_RULE, A_RULE]}, "duplicate_rule", "rules"),
        ({"rules": [], "webhook": {**WEBHOOK, "url": "ftp://example.org/x"}}, "invalid_webhook_url", "webhook.url"),
        ({"rules": [], "webhook": {**WEBHOOK, "url": "http://169.254.169.254/latest/meta-data"}}, "private_webhook_url", "webhook.url"),
        ({"rules": [], "webhook": {**WEBHOOK, "url": "http://[::ffff:127.0.0.1]:8080/x"}}, "private_webhook_url", "webhook.url"),
        ({"rules": [], "webhook": {**WEBHOOK, "url": "http://2130706433/"}}, "private_webhook_url", "webhook.url"),
        ({"rules": [], "webhook": {**WEBHOOK, "url": "https://metadata.google.internal/x"}}, "private_webhook_url", "webhook.url"),
        ({"rules": [], "webhook": {**WEBHOOK, "url": "https://user:pw@example.org/x"}}, "invalid_webhook_url", "webhook.url"),
        ({"rules": [], "webhook": {"url": "https://example.org/x"}}, "invalid_webhook", "webhook.secret"),
        ({"rules": [], "webhook": {**WEBHOOK, "secret": "short"}}, "invalid_input", "webhook.secret"),
    ],
)
def test_a_bad_rule_document_is_a_400_naming_the_field(client, auth, document, code, field):
    refused(client.put(RULES, json=document, headers=auth("admin")), 400, code, field)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)
rule_like = st.fixed_dictionaries(
    {"name": st.text(max_size=10), "event": st.sampled_from(["StatusChanged", "Opened", "x"]), "recipients": json_values},
    optional={"channels": json_values, "templates": json_values, "statuses": json_values, "send": json_values, "by": json_values},
)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(
    document=st.one_of(json_values, st.fixed_dictionaries({"rules": st.lists(rule_like, max_size=3)}, optional={"webhook": json_values}))
)
def test_whatever_is_put_as_rules_is_answered_without_a_server_error(client, document):
    headers = {"Authorization": "Bearer " + _admin_token()}
    response = client.put(RULES, json=document, headers=headers)
    assert response.status_code in (200, 400), response.text
    if response.status_code == 400:
        assert response.json()["field"]


def _admin_token() -> str:
    from api.auth import issue_token
    from tests.conftest import JWT_SECRET

    return issue_token(JWT_SECRET, tenant="fuzz-rules", role="admin", sub="admin-fuzz")


def record(engine, tenant, ticket_id, kind, recipient, status="sent", **extra):
    row = {
        "id": uuid.uuid4(),
        "tenant": tenant,
        "ticket_id": ticket_id,
        "notification_id": 1,
        "event": "StatusChanged",
        "rule": "municipal: status to the reporter",
        "recipient_kind": kind,
        "recipient_key": uuid.uuid4().hex,
        "recipient": recipient,
        "channel": "whatsapp",
        "template": "docket_status_update",
        "sensitive": False,
        "status": status,
        "message": b"sealed",
        **extra,
    }
    with engine.begin() as conn:
        conn.execute(insert(deliveries).values(**row))


def test_a_tickets_deliveries_are_masked_for_staff_and_a_reporter_sees_only_their_own(client, auth, engine, tenant, app, projected):
    create_delivery_tables(app.recorder.datastore)
    ticket = open_ticket(client, auth("reporter", sub="ann"))
    projected()
    record(engine, tenant, ticket["id"], "reporter", "+2782*****12", provider_message_id="wamid.1")
    record(engine, tenant, ticket["id"], "team_manager", "m***@example.org", status="dead", last_error="SMTP 550: no such user")
    staff = client.get(f"/api/v1/tickets/{ticket['id']}/notifications", headers=auth("manager"))
    assert staff.status_code == 200, staff.text
    body = staff.json()
    assert body["total"] == 2 and {i["recipient"] for i in body["items"]} == {"+2782*****12", "m***@example.org"}
    assert "message" not in body["items"][0] and "recipient_key" not in body["items"][0]
    by_number = client.get(f"/api/v1/tickets/{ticket['tracking_number']}/notifications", headers=auth("auditor")).json()
    assert by_number["total"] == 2
    own = client.get(f"/api/v1/tickets/{ticket['id']}/notifications", headers=auth("reporter", sub="ann")).json()
    assert [(i["recipient"], i["rule"], i["provider_message_id"]) for i in own["items"]] == [("+2782*****12", None, "wamid.1")]
    refused(client.get(f"/api/v1/tickets/{ticket['id']}/notifications", headers=auth("reporter", sub="bob")), 404, "ticket_not_found")
    refused(
        client.get(f"/api/v1/tickets/{ticket['id']}/notifications", headers=auth("ward_councillor", ward="w1")), 403, "role_not_allowed"
    )
    refused(
        client.get(f"/api/v1/tickets/{ticket['id']}/notifications", headers=auth("admin", tenant_="elsewhere")), 404, "ticket_not_found"
    )


def test_the_suppression_list_is_the_admins_and_takes_phone_numbers_and_email_addresses(client, auth):
    put = client.put(f"{SUPPRESSIONS}/+27 82 555 0101", json={"reason": "asked us to stop"}, headers=auth("admin"))
    assert put.status_code == 200, put.text
    assert put.json() == {
        "address": "+2782*****01",
        "suppressed": True,
        "reason": "asked us to stop",
        "notification_id": put.json()["notification_id"],
    }
    assert client.get(f"{SUPPRESSIONS}/+27825550101", headers=auth("admin")).json()["suppressed"] is True
    assert client.put(f"{SUPPRESSIONS}/Bounce@Example.ORG", headers=auth("admin")).json()["address"] == "B***@example.org"
    refused(client.put(f"{SUPPRESSIONS}/+27825550101", headers=auth("manager")), 403, "role_not_allowed")
    refused(client.put(f"{SUPPRESSIONS}/not-an-address", headers=auth("admin")), 400, "invalid_address", "address")
    lifted = client.delete(f"{SUPPRESSIONS}/%2B27825550101", headers=auth("admin"))
    assert lifted.status_code == 200 and lifted.json()["suppressed"] is False
    refused(client.delete(f"{SUPPRESSIONS}/+27825550101", headers=auth("admin")), 409, "not_suppressed", "address")
    refused(client.delete(f"{SUPPRESSIONS}/+27825550199", headers=auth("admin")), 404, "not_suppressed", "address")


def test_only_the_reporter_opts_out_of_their_tickets_messages(client, auth):
    ticket = open_ticket(client, auth("reporter", sub="ann"))
    path = f"/api/v1/tickets/{ticket['id']}/notifications/opt-out"
    refused(client.post(path, headers=auth("manager")), 403, "not_the_reporter")
    refused(client.post(path, headers=auth("reporter", sub="bob")), 404, "ticket_not_found")
    first = client.post(path, headers=auth("reporter", sub="ann"))
    assert first.status_code == 200 and first.json()["opted_out"] is True and first.json()["notification_id"]
    assert client.post(path, headers=auth("reporter", sub="ann")).json()["notification_id"] is None  # so already
    back = client.delete(path, headers=auth("reporter", sub="ann"))
    assert back.status_code == 200 and back.json()["opted_out"] is False


def test_team_members_phone_numbers_are_kept_in_e164_and_shown_masked_but_to_admins(client, auth, projected):
    team = client.post("/api/v1/teams", json={"name": "Water"}, headers=auth("admin")).json()["id"]
    member = f"/api/v1/teams/{team}/members/tia"
    refused(client.put(member, json={"display_name": "Tia", "phone": "082 123 4567"}, headers=auth("admin")), 400, "invalid_phone", "phone")
    refused(client.put(member, json={"display_name": "Tia", "email": "tia@"}, headers=auth("admin")), 400, "invalid_email", "email")
    saved = client.put(
        member, json={"display_name": "Tia", "phone": "+27 (82) 123-4567", "email": "tia@Water.Example"}, headers=auth("admin")
    )
    assert saved.status_code == 200, saved.text

    def shown(role):
        answer = client.get(f"/api/v1/teams/{team}", headers=auth(role))
        return answer.json()["members"][0] if answer.status_code == 200 else None

    projected()
    assert (shown("admin")["phone"], shown("admin")["email"]) == ("+27821234567", "tia@water.example")
    assert (shown("agent")["phone"], shown("agent")["email"]) == ("+2782*****67", "t***@water.example")
