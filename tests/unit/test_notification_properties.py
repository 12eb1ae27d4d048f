"""The notifier's rules as properties: phone numbers in E.164, masking, templates that cannot be
made to say more than their placeholders, rule matching, the webhook address policy, backoff,
signatures; and what planning does with internal notes and sensitive tickets (no I/O)."""

from __future__ import annotations

import ipaddress
import random
import re
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from uuid import uuid4

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from domain.contacts import E164, mask, normalise_email, normalise_phone
from domain.errors import Invalid
from domain.notification_rules import DEFAULT_RULES, NOTIFIABLE_EVENTS, EventFacts, NotificationRule, matching, parse_rules
from domain.notification_templates import PLACEHOLDERS, TOKEN, check_text, render, render_html, whatsapp_parameter
from domain.ticket import Ticket
from domain.webhook_urls import check_webhook_url, is_public
from domain.workflow import FIELD_SERVICE, HELPDESK, MUNICIPAL
from tests.unit.helpers import actor, new_ticket
from workers.notifier.backoff import RETRY_AFTER_CAP, parse_retry_after, retry_delay
from workers.notifier.planning import Lookups, NotifyEvent, Planner
from workers.notifier.webhooks import signature, verify_signature
from workers.settings import NotifySettings, SettingsError, load_settings

e164 = st.builds(lambda first, rest: f"+{first}{rest}", st.sampled_from("123456789"), st.text("0123456789", min_size=7, max_size=14))
separators = st.sampled_from([" ", "-", ".", "(", ")", "/", "\u00a0", ""])


@given(e164)
def test_an_e164_number_is_its_own_normal_form(number):
    assert normalise_phone(number) == number


@given(e164, st.lists(separators, min_size=1, max_size=16), st.booleans())
def test_separators_and_a_leading_00_change_nothing_of_the_number(number, seps, double_zero):
    digits = number[1:]
    typed = "".join(d + seps[i % len(seps)] for i, d in enumerate(digits))
    typed = ("00" if double_zero else "+") + typed
    assume(len(typed) <= 32)
    assert normalise_phone(typed) == number


@given(st.text(max_size=40))
def test_whatever_is_typed_is_e164_or_refused(text):
    try:
        normal = normalise_phone(text)
    except ValueError:
        return
    assert E164.match(normal) and normalise_phone(normal) == normal


def test_a_national_number_needs_the_country_code_setting():
    with pytest.raises(ValueError):
        normalise_phone("082 123 4567")
    assert normalise_phone("082 123 4567", country_code="27") == "+27821234567"
    assert normalise_phone("+44 20 7946 0958", country_code="27") == "+442079460958"


@given(e164)
def test_a_masked_phone_hides_at_least_three_digits_and_keeps_its_length(number):
    shown = mask(number)
    assert len(shown) == len(number) and shown.count("*") >= 3
    assert shown[-2:] == number[-2:] and shown[0] == "+"
    visible = [c for c in shown if c.isdigit()]
    assert len(visible) <= 6


def test_the_masking_the_issue_shows():
    assert mask("+27821234512") == "+2782*****12"
    assert mask("ann.smith@example.org") == "a***@example.org"
    assert mask("https://hooks.example.org/secret/path?token=1") == "https://hooks.example.org/***"


@given(st.from_regex(r"[a-z0-9._%+-]{1,20}@[a-z0-9-]{1,10}\.(org|com|co\.za)", fullmatch=True))
def test_an_email_address_keeps_its_name_and_loses_the_case_of_its_domain(address):
    local, domain = address.split("@")
    assume(not local.startswith(".") and not local.endswith(".") and ".." not in local and not re.search(r"^-|-\.", domain))
    assert normalise_email(f"  {local}@{domain.upper()} ") == f"{local}@{domain}"


@pytest.mark.parametrize(
    "bad",
    ["", "ann", "ann@", "@example.org", "a b@example.org", "ann@example", "ann@ex ample.org", "a@b.c\r\nBcc: x@y.org", "ann@@example.org"],
)
def test_what_is_not_an_email_address_is_refused(bad):
    with pytest.raises(ValueError):
        normalise_email(bad)


values = st.dictionaries(st.sampled_from(sorted(PLACEHOLDERS)), st.text(max_size=30))


@given(values)
def test_filling_in_a_template_never_reads_a_value_as_a_template(filled):
    template = "{tracking_number}: {title} {{literal}} {status}"
    out = render(template, {**filled, "title": "{status} {{tracking_number}} {0.__class__}"})
    assert "{status} {{tracking_number}} {0.__class__}" in out and "{literal}" in out


@given(st.text(max_size=60))
def test_a_template_is_checked_or_refused_and_a_checked_one_renders_without_braces_left_over(text):
    try:
        check_text("body", text, 1000)
    except Invalid as error:
        assert error.field == "body"
        return
    out = render(text, dict.fromkeys(PLACEHOLDERS, "X"))
    tokens = [token.group(0) for token in TOKEN.finditer(text)]
    assert out.count("{") == tokens.count("{{") and out.count("}") == tokens.count("}}")


@pytest.mark.parametrize("bad", ["{status.__class__}", "{0}", "{}", "{title!r}", "{title:>10}", "{ status }", "50% {", "}"])
def test_anything_but_a_known_placeholder_in_braces_is_refused(bad):
    with pytest.raises(Invalid):
        check_text("body", bad, 1000)


def test_html_parts_escape_what_they_fill_in_and_whatsapp_parameters_are_one_line():
    assert render_html("<p>{reply}</p>", {"reply": "<script>x</script>"}) == "<p>&lt;script&gt;x&lt;/script&gt;</p>"
    assert whatsapp_parameter("a\n\tb     c") == "a b c" and whatsapp_parameter("   ") == "-"


facts = st.builds(
    EventFacts,
    event=st.sampled_from(NOTIFIABLE_EVENTS),
    workflow=st.sampled_from(["municipal", "field_service", "helpdesk", "ours"]),
    to_status=st.sampled_from([None, "in_progress", "resolved", "completed", "closed"]),
    actor_role=st.sampled_from(["reporter", "agent", "manager", "admin", "system"]),
    internal=st.booleans(),
)


@given(facts)
def test_an_internal_note_triggers_no_rule_and_a_rule_matches_only_its_own_event(fact):
    matched = matching(DEFAULT_RULES, fact)
    if fact.internal:
        assert matched == []
    assert all(rule.event == fact.event and (not rule.workflows or fact.workflow in rule.workflows) for rule in matched)
    assert all(not rule.statuses or fact.to_status in rule.statuses for rule in matched)


@given(facts)
def test_a_rule_without_criteria_matches_every_public_event_of_its_kind(fact):
    rule = NotificationRule(name="any", event=fact.event, recipients=("reporter",))
    assert rule.matches(fact) is (not fact.internal)


def test_the_defaults_follow_the_seeds():
    def told(event, workflow, status=None, role="manager"):
        return [(r.recipients, r.channels, r.send) for r in matching(DEFAULT_RULES, EventFacts(event, workflow, status, role))]

    assert told("StatusChanged", "municipal", "in_progress") == [(("reporter",), ("whatsapp", "sms", "email"), "first")]
    assert told("StatusChanged", "municipal", "open") == []
    assert told("Opened", "field_service", role="reporter") == [(("reporter",), ("sms", "email"), "all")]
    assert told("Assigned", "field_service") == [(("assignee",), ("sms", "email"), "all")]
    assert told("StatusChanged", "field_service", "completed", "agent") == [(("reporter",), ("sms", "email"), "all")]
    assert told("SLABreached", "field_service", role="system") == [(("team_managers",), ("sms", "email"), "all")]
    assert told("ReplyAdded", "helpdesk", role="agent") == [(("reporter",), ("email",), "first")]
    assert told("ReplyAdded", "helpdesk", role="reporter") == []
    assert told("StatusChanged", "helpdesk", "resolved", "agent") == [(("reporter",), ("email",), "first")]
    assert told("Escalated", "ours", role="system") == [(("team_managers",), ("sms", "email"), "first")]


def test_every_event_a_rule_may_name_is_a_ticket_event():
    assert all(isinstance(getattr(Ticket, name), type) for name in NOTIFIABLE_EVENTS)


@given(st.ip_addresses())
def test_a_webhook_may_name_an_address_only_if_it_is_public(address):
    host = f"[{address}]" if address.version == 6 else str(address)
    url = f"https://{host}/hook"
    if is_public(address):
        assert check_webhook_url("webhook.url", url, allow_private=False) == url
    else:
        with pytest.raises(Invalid) as refused:
            check_webhook_url("webhook.url", url, allow_private=False)
        assert refused.value.field == "webhook.url"
    assert check_webhook_url("webhook.url", url, allow_private=True) == url


@pytest.mark.parametrize(
    "address", ["127.0.0.1", "10.0.0.1", "169.254.169.254", "100.64.0.1", "::1", "fe80::1", "::ffff:10.1.2.3", "0.0.0.0"]
)
def test_loopback_private_link_local_and_shared_addresses_are_not_public(address):
    assert not is_public(ipaddress.ip_address(address))


@given(st.integers(min_value=1, max_value=40), st.floats(min_value=0.01, max_value=10), st.floats(min_value=0.1, max_value=600))
def test_backoff_grows_stays_under_its_cap_and_keeps_half_of_itself(attempt, base, cap):
    delay = retry_delay(attempt, base, cap, rng=random.Random(attempt))
    full = min(cap, base * 2 ** (attempt - 1))
    assert full / 2 <= delay <= full


@given(st.floats(min_value=0, max_value=10_000), st.floats(min_value=0.01, max_value=5))
def test_a_retry_after_is_waited_at_least_up_to_its_cap(retry_after, base):
    delay = retry_delay(1, base, 60, retry_after, random.Random(1))
    assert min(retry_after, RETRY_AFTER_CAP) <= delay <= min(retry_after, RETRY_AFTER_CAP) + 1


def test_retry_after_is_read_in_seconds_or_as_an_http_date():
    now = datetime(2026, 5, 1, 12, tzinfo=UTC)
    assert parse_retry_after("120", now) == 120
    assert parse_retry_after(format_datetime(now + timedelta(seconds=30), usegmt=True), now) == 30
    assert parse_retry_after("soon", now) is None and parse_retry_after(None) is None


@given(st.binary(max_size=200), st.text(min_size=16, max_size=40))
def test_a_signature_verifies_its_body_and_no_other(body, secret):
    header = signature(secret, 1_700_000_000, body)
    assert verify_signature(secret, header, body, now=1_700_000_010)
    assert not verify_signature(secret, header, body + b"x", now=1_700_000_010)
    assert not verify_signature(secret, header, body, now=1_700_001_000)  # too old: a replay


class Remembered(Lookups):
    """Planning's lookups, answered from memory: no rules set, no team, nothing suppressed."""

    def __init__(self) -> None:
        super().__init__(app=None)  # type: ignore[arg-type]

    def rules_of(self, tenant):
        return None

    def team(self, team_id, tenant):
        return None

    def is_suppressed(self, tenant, address):
        return False

    def has_opted_out(self, ticket_id):
        return False


def event_of(ticket: Ticket, name: str, **fields) -> NotifyEvent:
    return NotifyEvent(
        event=name, ticket_id=ticket.id, notification_id=random.randrange(10**9), tenant=ticket.tenant, at=datetime.now(UTC), **fields
    )


ALL_ON = {"whatsapp", "sms", "email", "webhook"}


def test_an_internal_note_on_a_sensitive_ticket_reaches_no_reporter_and_a_public_reply_only_the_neutral_text():
    ticket = new_ticket(workflow=HELPDESK, is_sensitive=True, reporter={"phone": "+27821234567", "email": "v@example.org"})
    planner = Planner(NotifySettings(), ALL_ON, sensitive=True)
    note = event_of(ticket, "ReplyAdded", actor_role="liaison", internal=True, body="Suspect: Bob", is_sensitive=True)
    assert planner.plan(note, b"{}", ticket, Remembered()) == []
    reply = event_of(ticket, "ReplyAdded", actor_role="liaison", body="We arrested Bob", is_sensitive=True)
    [planned] = planner.plan(reply, b"{}", ticket, Remembered())
    assert planned.channel == "email" and planned.sensitive and planned.template == "neutral"
    assert planned.message == {
        "to": "v@example.org",
        "subject": "An update on your report",
        "text": "There is an update on your report TKT-000001.",
    }


WORKFLOWS = {workflow.name: workflow for workflow in (MUNICIPAL, FIELD_SERVICE, HELPDESK)}


@given(
    workflow=st.sampled_from(sorted(WORKFLOWS)),
    event=st.sampled_from(NOTIFIABLE_EVENTS),
    to_status=st.sampled_from([None, "open", "in_progress", "resolved", "completed", "closed"]),
    actor_role=st.sampled_from(["reporter", "agent", "manager", "system"]),
    internal=st.booleans(),
    sensitive=st.booleans(),
    planner_sensitive=st.booleans(),
)
def test_an_event_whose_ticket_the_notifier_does_not_read_would_have_told_nobody(
    workflow, event, to_status, actor_role, internal, sensitive, planner_sensitive
):
    """The notifier reads a ticket only where may_plan says planning could tell someone: where it
    says not, planning with the ticket plans nothing. The workflow is on the opening event alone."""
    ticket = new_ticket(workflow=WORKFLOWS[workflow], is_sensitive=sensitive, reporter={"phone": "+27821234567", "email": "r@example.org"})
    fields = {"to_status": to_status, "actor_role": actor_role, "internal": internal, "is_sensitive": sensitive}
    told = event_of(ticket, event, **fields, workflow=workflow if event == "Opened" else None)
    planner = Planner(NotifySettings(), ALL_ON, sensitive=planner_sensitive)
    if not planner.may_plan(told, Remembered()):
        assert planner.plan(told, b"{}", ticket, Remembered()) == []


def test_the_notifier_reads_no_ticket_for_an_opening_or_a_move_that_no_rule_takes_up():
    ticket = new_ticket()  # municipal: its reporter hears of moves to in_progress and on, not of the opening
    planner = Planner(NotifySettings(), ALL_ON, sensitive=False)
    assert not planner.may_plan(event_of(ticket, "Opened", actor_role="reporter", workflow="municipal"), Remembered())
    assert not planner.may_plan(event_of(ticket, "StatusChanged", to_status="open"), Remembered())
    assert planner.may_plan(event_of(ticket, "StatusChanged", to_status="in_progress"), Remembered())
    assert planner.may_plan(event_of(ticket, "Opened", actor_role="reporter", workflow="field_service"), Remembered())


def test_the_ordinary_planner_plans_nothing_for_a_sensitive_ticket_and_the_sensitive_one_nothing_else():
    secret = new_ticket(is_sensitive=True, reporter={"phone": "+27821234567"})
    plain = new_ticket(reporter={"phone": "+27821234567"})
    moved = {"actor_role": "manager", "to_status": "in_progress", "from_status": "open"}
    assert (
        Planner(NotifySettings(), ALL_ON, sensitive=False).plan(event_of(secret, "StatusChanged", **moved), b"{}", secret, Remembered())
        == []
    )
    assert (
        Planner(NotifySettings(), ALL_ON, sensitive=True).plan(event_of(plain, "StatusChanged", **moved), b"{}", plain, Remembered()) == []
    )
    [neutral] = Planner(NotifySettings(), ALL_ON, sensitive=True).plan(
        event_of(secret, "StatusChanged", is_sensitive=True, **moved), b"{}", secret, Remembered()
    )
    assert neutral.message == {"to": "+27821234567", "name": "docket_report_update", "language": "en", "parameters": ["TKT-000001"]}


def test_one_address_on_one_channel_is_told_once_per_event_whatever_rules_name_it():
    ticket = new_ticket(reporter={"phone": "+27821234567"})
    rules = parse_rules(
        [
            {"name": "a", "event": "StatusChanged", "recipients": ["reporter"], "channels": ["sms"]},
            {"name": "b", "event": "StatusChanged", "recipients": ["+27821234567"], "channels": ["sms"]},
        ],
        webhook=False,
    )

    class WithRules(Remembered):
        def rules_of(self, tenant):
            from domain.notification_rules import NotificationRules

            held = NotificationRules(tenant=tenant)
            held.replace(actor("admin"), [r.to_document() for r in rules], None)
            return held

    planned = Planner(NotifySettings(), ALL_ON, sensitive=False).plan(
        event_of(ticket, "StatusChanged", actor_role="manager", to_status="in_progress"), b"{}", ticket, WithRules()
    )
    assert [(p.rule, p.channel, p.recipient) for p in planned] == [("a", "sms", "+2782*****67")]


def test_notify_settings_refuse_what_cannot_work():
    base = {"DOCKET_JWT_SECRET": "x", "DOCKET_CIPHER_KEY": "y"}
    for name, value in (
        ("DOCKET_SMTP_URL", "http://mail"),
        ("DOCKET_WHATSAPP_URL", "graph.facebook.com"),
        ("DOCKET_NOTIFY_LINK", "https://x/{phone}"),
        ("DOCKET_PHONE_COUNTRY_CODE", "027"),
        ("DOCKET_WEBHOOK_ALLOW_PRIVATE", "maybe"),
        ("DOCKET_NOTIFY_RATE_SMS", "0"),
    ):
        with pytest.raises(SettingsError, match=name):
            load_settings({**base, name: value})
    notify = load_settings(
        {**base, "DOCKET_SMS_ACCOUNT_SID": "AC1", "DOCKET_SMS_AUTH_TOKEN": "t", "DOCKET_SMS_FROM": "+15005550006"}
    ).notify
    assert notify.sms_on and not notify.whatsapp_on and not notify.email_on


def test_planned_ids_are_the_same_for_every_notifier_that_meets_the_event():
    ticket = new_ticket(reporter={"phone": "+27821234567"})
    event = event_of(ticket, "StatusChanged", actor_role="manager", to_status="in_progress")
    first = Planner(NotifySettings(), ALL_ON, sensitive=False).plan(event, b"{}", ticket, Remembered())
    again = Planner(NotifySettings(), ALL_ON, sensitive=False).plan(event, b"{}", ticket, Remembered())
    assert [p.id for p in first] == [p.id for p in again] and uuid4() not in {p.id for p in first}
