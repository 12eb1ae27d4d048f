"""The notifier against real servers: PostgreSQL, NATS JetStream, an SMTP server and HTTP servers
that speak the WhatsApp Cloud API and Twilio. Each default rule sends the right words to the
right address by the right channel; failures retry, die and dead-letter as they should; internal
notes, opt-outs and the suppression list hold."""

from __future__ import annotations

import asyncio
import json
import random
import time
from datetime import timedelta

import msgspec
import nats
import pytest
from nats.errors import TimeoutError as NatsTimeout

from commands.assignments import assign_ticket
from commands.breaches import breach_sla
from commands.deliveries import retry_deliveries
from commands.notifications import SetNotificationRules, set_notification_rules
from commands.routing import no_workload
from commands.sla import set_sla_policies
from commands.structs import AddMember, AddReply, AssignTicket, ChangeStatus, CreateTeam, OpenTicket, Reporter, SetSLAPolicies
from commands.teams import add_member, create_team
from commands.tickets import add_reply, change_status, open_ticket
from domain.sla import utc_now
from tests.notify_servers import WEBHOOK_SECRET, MailServer, eventually, provider_servers, self_signed
from tests.notify_stack import FromNowRelay, Stack, deliveries, notify_settings, settle, settled
from workers.embedded import embedded_nats
from workers.notifier.dead_letters import STREAM as DEAD_LETTERS
from workers.notifier.role import ORDINARY, SENSITIVE
from workers.notifier.webhooks import verify_signature


def a_phone() -> str:
    return "+2782" + "".join(random.choice("0123456789") for _ in range(7))


def an_email(name: str = "ann") -> str:
    return f"{name}.{random.randrange(10**9)}@example.org"


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    with provider_servers(tmp_path_factory.mktemp("notify")) as found:
        yield found


@pytest.fixture
def providers(servers):
    return servers[0]


@pytest.fixture
def mail(servers):
    return servers[1]


@pytest.fixture
def notify(servers):
    providers, mail, ca = servers
    return notify_settings(providers, mail, ca)


@pytest.fixture
def stack(app, database_url, nats_server, tenant, engine):
    """The relay and, once added, notifiers that read this test's tenant only (a durable of their own)."""
    made = []

    def start(settings, **kwargs):
        running = Stack(app, database_url, nats_server.url_for("relay"))
        running.add(nats_server.admin_url, settings, subject=f"docket.{tenant}.tickets.>", durable=f"notify_{tenant}", **kwargs)
        made.append(running.__enter__())
        return running

    yield start
    for running in made:
        running.__exit__(None, None, None)
    settle(engine, tenant)


def opened(app, actor, phone=None, email=None, workflow=None, sub="citizen-1", **fields):
    reporter = Reporter(phone=phone, email=email)
    command = OpenTicket(
        actor=actor("reporter", sub),
        title="Burst pipe",
        description="Water everywhere",
        category="water",
        reporter=reporter,
        workflow=workflow,
        **fields,
    )
    return open_ticket(app, command)


def sent_to(engine, tenant, channel, status="sent"):
    return [d for d in deliveries(engine, tenant) if d["channel"] == channel and d["status"] == status]


def test_a_municipal_status_change_sends_the_reporter_a_whatsapp_template_and_falls_back_to_email(
    app, actor, tenant, engine, stack, notify, providers, mail
):
    phone, email = a_phone(), an_email()
    with_phone = opened(app, actor, phone=phone.replace("+27", "+27 ").replace("82", "82-", 1), email=email)
    with_email = opened(app, actor, email=email)
    with_nothing = opened(app, actor, sub="citizen-2")
    stack(notify)
    for ticket in (with_phone, with_email, with_nothing):
        change_status(app, ChangeStatus(actor=actor(), ticket_id=ticket.id, status="in_progress"))
    assert eventually(lambda: providers.accepted("whatsapp", phone) and mail.to(email))
    [message] = providers.accepted("whatsapp", phone)
    template = message.payload["template"]
    assert message.payload["to"] == phone[1:] and message.payload["messaging_product"] == "whatsapp"
    assert template["name"] == "docket_status_update" and template["language"] == {"code": "en"}
    assert [p["text"] for p in template["components"][0]["parameters"]] == [with_phone.tracking_number, "in progress"]
    [letter] = mail.to(email)
    assert letter.subject == f"Your report {with_email.tracking_number} is now in progress"
    assert f"https://city.example/tickets/{with_email.tracking_number}" in letter.text
    assert letter.html and "<p>" in letter.html and letter.tls and letter.authenticated
    assert letter.message["Message-ID"].startswith("<") and letter.message["Auto-Submitted"] == "auto-generated"

    records = eventually(
        lambda: [d for d in deliveries(engine, tenant) if d["status"] != "pending"] if len(deliveries(engine, tenant)) == 3 else None
    )
    by_ticket = {d["ticket_id"]: d for d in records}
    assert by_ticket[with_phone.id]["recipient"] == phone[:5] + "*****" + phone[-2:]
    assert by_ticket[with_phone.id]["provider_message_id"].startswith("wamid.")
    assert by_ticket[with_email.id]["channel"] == "email"
    nobody = by_ticket[with_nothing.id]
    assert (nobody["status"], nobody["last_error"]) == ("suppressed", "the reporter has no phone number or email address")
    assert providers.requests("whatsapp", phone)[0].key == str(by_ticket[with_phone.id]["id"])


def test_the_opening_tells_nobody_and_one_persons_messages_come_in_the_order_of_their_events(
    app, actor, tenant, engine, stack, notify, providers
):
    phone = a_phone()
    ticket = opened(app, actor, phone=phone)
    stack(notify)
    change_status(app, ChangeStatus(actor=actor(), ticket_id=ticket.id, status="in_progress"))
    change_status(app, ChangeStatus(actor=actor(), ticket_id=ticket.id, status="resolved"))
    assert eventually(lambda: len(providers.accepted("whatsapp", phone)) == 2)
    time.sleep(0.3)
    assert [m.text for m in providers.accepted("whatsapp", phone)] == [
        f"{ticket.tracking_number} | in progress",
        f"{ticket.tracking_number} | resolved",
    ]
    assert {d["event"] for d in deliveries(engine, tenant)} == {"StatusChanged"}  # the opening itself told nobody


def new_team(app, actor, *members):
    """A team of these (user_id, role, phone, email) members; returns its id."""
    admin = actor("admin")
    team = create_team(app, CreateTeam(actor=admin, name="Fibre crew")).id
    for user_id, role, phone, email in members:
        add_member(
            app, AddMember(actor=admin, team_id=team, user_id=user_id, display_name=user_id.title(), role=role, phone=phone, email=email)
        )
    return team


def test_field_service_tells_the_subscriber_the_technician_and_the_managers_by_sms_and_email(
    app, actor, tenant, engine, stack, notify, providers, mail
):
    subscriber, tech, manager = (a_phone(), an_email("sub")), (a_phone(), an_email("tia")), (a_phone(), an_email("max"))
    team = new_team(app, actor, ("tia", "agent", *tech), ("max", "manager", *manager), ("ada", "admin", a_phone(), None))
    set_sla_policies(
        app, SetSLAPolicies(actor=actor("admin"), policies=[{"id": "fs", "workflow": ["field_service"], "resolution_hours": 8}])
    )
    stack(notify)
    job = opened(app, actor, *subscriber, workflow="field_service")
    assign_ticket(app, no_workload, AssignTicket(actor=actor("manager", "max"), ticket_id=job.id, team_id=team, assignee_id="tia"))
    change_status(app, ChangeStatus(actor=actor("agent", "tia"), ticket_id=job.id, status="in_progress"))
    change_status(
        app, ChangeStatus(actor=actor("agent", "tia"), ticket_id=job.id, status="completed", fields={"completion_notes": "Spliced"})
    )
    late = opened(app, actor, a_phone(), workflow="field_service", sub="citizen-2")
    assign_ticket(app, no_workload, AssignTicket(actor=actor("manager", "max"), ticket_id=late.id, team_id=team))
    assert breach_sla(app, late.id, "resolution", utc_now() + timedelta(days=2))

    def texts(phone):
        return sorted(m.text for m in providers.accepted("sms", phone))

    def everyone_told() -> bool:  # every message below has arrived: sent by SMS and email in parallel, in no set order
        told = (texts(subscriber[0]), mail.to(subscriber[1]), texts(tech[0]), mail.to(tech[1]), texts(manager[0]), mail.to(manager[1]))
        return [len(messages) for messages in told] == [2, 2, 1, 1, 2, 1]

    assert eventually(everyone_told)
    assert texts(subscriber[0]) == sorted(
        [
            f"We received your request {job.tracking_number} (Burst pipe). https://city.example/tickets/{job.tracking_number}",
            f"Your job {job.tracking_number} (Burst pipe) is completed. https://city.example/tickets/{job.tracking_number}",
        ]
    )
    assert sorted(m.subject for m in mail.to(subscriber[1])) == sorted(
        [f"We received your request {job.tracking_number}", f"Your job {job.tracking_number} is completed"]
    )
    assert texts(tech[0]) == [
        f"Job {job.tracking_number} (Burst pipe) is assigned to you. https://city.example/tickets/{job.tracking_number}"
    ]
    assert [m.subject for m in mail.to(tech[1])] == [f"Job {job.tracking_number} is assigned to you"]
    # The breach by SMS and email (send: all), and the escalation it brought by SMS (send: first).
    assert texts(manager[0]) == sorted(
        [
            f"SLA breached: the resolution deadline of {late.tracking_number} (Burst pipe) passed. https://city.example/tickets/{late.tracking_number}",
            f"{late.tracking_number} (Burst pipe) escalated to level 1. https://city.example/tickets/{late.tracking_number}",
        ]
    )
    assert [m.subject for m in mail.to(manager[1])] == [f"SLA breached on {late.tracking_number}"]
    assert all(m.payload["From"] == "+15005550006" for m in providers.accepted("sms"))
    assert not providers.accepted("whatsapp", subscriber[0])  # not a channel of these rules


def test_the_help_desk_emails_public_staff_replies_and_resolutions_and_never_an_internal_note(
    app, actor, tenant, engine, stack, notify, mail
):
    customer = an_email("cus")
    ticket = opened(app, actor, email=customer, workflow="helpdesk")
    # A rule of the tenant's own that would send any reply at all to the reporter: internal notes still go nowhere.
    set_notification_rules(
        app,
        SetNotificationRules(
            actor=actor("admin"),
            rules=[
                {"name": "every reply", "event": "ReplyAdded", "recipients": ["reporter"], "channels": ["email"]},
                {"name": "resolved", "event": "StatusChanged", "statuses": ["resolved"], "recipients": ["reporter"], "channels": ["email"]},
            ],
        ),
    )
    stack(notify)
    add_reply(
        app, AddReply(actor=actor("agent", "sam"), ticket_id=ticket.id, body="Internal: the customer is on the old plan", internal=True)
    )
    add_reply(app, AddReply(actor=actor("agent", "sam"), ticket_id=ticket.id, body="We replaced your router <b>today</b>."))
    change_status(app, ChangeStatus(actor=actor("agent", "sam"), ticket_id=ticket.id, status="in_progress"))
    change_status(app, ChangeStatus(actor=actor("agent", "sam"), ticket_id=ticket.id, status="resolved"))
    assert eventually(lambda: len(mail.to(customer)) == 2)
    time.sleep(0.5)
    reply, resolved = sorted(mail.to(customer), key=lambda m: "resolved" in m.subject)
    assert "We replaced your router <b>today</b>." in reply.text and "&lt;b&gt;today&lt;/b&gt;" in reply.html
    assert resolved.subject == f"Your report {ticket.tracking_number} is now resolved"
    assert all("Internal" not in m.text and "old plan" not in (m.html or "") for m in mail.to(customer))
    assert {d["event"] for d in deliveries(engine, tenant)} == {"ReplyAdded", "StatusChanged"}
    assert len([d for d in deliveries(engine, tenant) if d["event"] == "ReplyAdded"]) == 1


def municipal_ticket(app, actor, phone=None, email=None):
    ticket = opened(app, actor, phone=phone, email=email)
    return ticket, lambda status="in_progress": change_status(app, ChangeStatus(actor=actor(), ticket_id=ticket.id, status=status))


def only_channel(app, actor, channel):
    rule = {"name": f"by {channel}", "event": "StatusChanged", "recipients": ["reporter"], "channels": [channel]}
    set_notification_rules(app, SetNotificationRules(actor=actor("admin"), rules=[rule]))


def test_a_provider_500_then_200_sends_the_message_exactly_once(app, actor, tenant, engine, stack, notify, providers):
    phone = a_phone()
    providers.fail("whatsapp", 500)
    stack(notify)
    ticket, move = municipal_ticket(app, actor, phone)
    move()
    assert eventually(lambda: providers.accepted("whatsapp", phone))
    first, second = providers.requests("whatsapp", phone)
    assert (first.status, second.status) == (500, 200) and first.key == second.key
    [record] = eventually(lambda: sent_to(engine, tenant, "whatsapp"))
    assert record["attempts"] == 2 and "HTTP 500" in record["last_error"]
    time.sleep(0.3)
    assert len(providers.accepted("whatsapp", phone)) == 1


def test_a_429_is_tried_again_after_its_retry_after(app, actor, tenant, engine, stack, notify, providers):
    phone = a_phone()
    only_channel(app, actor, "sms")
    providers.fail("sms", 429, retry_after="1", body={"code": 20429, "message": "Too Many Requests", "status": 429})
    stack(notify)
    ticket, move = municipal_ticket(app, actor, phone)
    move()
    assert eventually(lambda: providers.accepted("sms", phone))
    first, second = providers.requests("sms", phone)
    assert first.status == 429 and second.status == 201 and second.at - first.at >= 1.0


def read_dead_letters(nats_url, tenant, expected, timeout=10.0):
    async def read():
        client = await nats.connect(nats_url)
        try:
            sub = await client.jetstream().subscribe(f"docket.{tenant}.notify.>", stream=DEAD_LETTERS, ordered_consumer=True)
            found, deadline = [], time.monotonic() + timeout
            while len(found) < expected and time.monotonic() < deadline:
                try:
                    message = await sub.next_msg(timeout=0.5)
                except NatsTimeout:
                    continue
                found.append((message.subject, dict(message.headers or {}), json.loads(message.data)))
            return found
        finally:
            await client.close()

    return asyncio.run(read())


def test_a_400_is_dead_at_once_goes_to_the_dead_letter_stream_and_is_sent_when_retried(
    app, actor, tenant, engine, stack, notify, providers, nats_url
):
    phone = a_phone()
    only_channel(app, actor, "sms")
    providers.fail("sms", 400, body={"code": 21211, "message": f"The 'To' number {phone} is not a valid phone number.", "status": 400})
    stack(notify)
    ticket, move = municipal_ticket(app, actor, phone)
    move()
    [dead] = eventually(lambda: sent_to(engine, tenant, "sms", "dead"))
    assert dead["attempts"] == 1 and phone not in dead["last_error"] and phone[:5] + "*****" + phone[-2:] in dead["last_error"]
    [(subject, headers, letter)] = read_dead_letters(nats_url, tenant, 1)
    assert subject == f"docket.{tenant}.notify.dead.sms" and headers["Nats-Msg-Id"] == f"{dead['id']}:1"
    assert (letter["delivery_id"], letter["ticket_id"], letter["recipient"]) == (str(dead["id"]), str(ticket.id), dead["recipient"])
    assert phone not in json.dumps(letter) and letter["error"].startswith("HTTP 400")
    [requeued] = retry_deliveries(app.recorder.datastore, ids=[dead["id"]])
    assert requeued.queued
    [sent] = eventually(lambda: sent_to(engine, tenant, "sms"))
    assert sent["id"] == dead["id"] and sent["attempts"] == 1
    assert len(providers.accepted("sms", phone)) == 1
    assert not retry_deliveries(app.recorder.datastore, ids=[dead["id"]])[0].queued  # sent: never twice


def test_failures_that_do_not_pass_die_after_the_last_attempt(app, actor, tenant, engine, stack, notify, providers, nats_url):
    phone = a_phone()
    providers.fail("whatsapp", 503, times=notify.max_attempts)
    stack(notify)
    ticket, move = municipal_ticket(app, actor, phone)
    move()
    [dead] = eventually(lambda: sent_to(engine, tenant, "whatsapp", "dead"))
    assert dead["attempts"] == notify.max_attempts == len(providers.requests("whatsapp", phone))
    assert [letter["attempts"] for _, _, letter in read_dead_letters(nats_url, tenant, 1)] == [notify.max_attempts]
    # The provider is back: every delivery dead since a moment ago goes again, counted anew.
    requeued = retry_deliveries(app.recorder.datastore, dead_since=utc_now() - timedelta(minutes=1))
    assert dead["id"] in {r.id for r in requeued if r.queued}
    [sent] = eventually(lambda: sent_to(engine, tenant, "whatsapp"))
    assert sent["attempts"] == 1 and len(providers.accepted("whatsapp", phone)) == 1


def test_a_mail_server_451_is_tried_again_and_a_550_is_dead(app, actor, tenant, engine, stack, notify, mail):
    later, never = an_email("later"), an_email("never")
    mail.reject_next.extend([(451, "4.3.0 try again later")])
    stack(notify)
    first, move_first = municipal_ticket(app, actor, email=later)
    move_first()
    assert eventually(lambda: mail.to(later))
    mail.reject_next.extend([(550, "5.1.1 no such user")])
    second, move_second = municipal_ticket(app, actor, email=never)
    move_second()
    [dead] = eventually(lambda: sent_to(engine, tenant, "email", "dead"))
    assert dead["ticket_id"] == second.id and dead["last_error"].startswith("SMTP 550")
    [sent] = sent_to(engine, tenant, "email")
    assert sent["attempts"] == 2 and sent["provider_message_id"] == mail.to(later)[0].message["Message-ID"]


def test_email_goes_over_implicit_tls_to_an_smtps_server(app, actor, tenant, engine, stack, notify, servers, tmp_path):
    cert, key = self_signed(tmp_path)
    with MailServer(cert, key, implicit_tls=True) as smtps:
        email = an_email()
        stack(msgspec.structs.replace(notify, smtp_url=smtps.url, smtp_ca_file=cert))
        ticket, move = municipal_ticket(app, actor, email=email)
        move()
        [letter] = eventually(lambda: smtps.to(email))
        assert letter.tls and letter.authenticated and letter.subject.endswith("is now in progress")


def test_webhooks_are_signed_and_carry_the_event(app, actor, tenant, engine, stack, notify, providers):
    url = providers.webhook_url(tenant)
    rule = {"name": "to our CRM", "event": "StatusChanged", "recipients": ["webhook"]}
    saved = set_notification_rules(
        app,
        SetNotificationRules(
            actor=actor("admin"), rules=[rule], webhook={"url": url, "secret": WEBHOOK_SECRET}, allow_private_webhooks=True
        ),
    )
    assert saved.version == 1
    stack(notify)
    ticket, move = municipal_ticket(app, actor, a_phone())
    move()
    [hook] = eventually(lambda: [r for r in providers.accepted("webhook") if r.path == f"/hooks/{tenant}"])
    assert verify_signature(WEBHOOK_SECRET, hook.headers["docket-signature"], hook.body)
    event = json.loads(hook.body)
    assert (event["event"], event["ticket_id"], event["to_status"]) == ("StatusChanged", str(ticket.id), "in_progress")
    [record] = eventually(lambda: sent_to(engine, tenant, "webhook"))
    assert hook.headers["docket-delivery"] == str(record["id"]) and record["recipient"] == "http://127.0.0.1/***"


def test_a_webhook_to_a_private_address_is_refused_when_the_setting_does_not_allow_it(app, actor, tenant, engine, stack, notify, providers):
    rule = {"name": "to our CRM", "event": "StatusChanged", "recipients": ["webhook"]}
    # Saved while private addresses were allowed, sent by a notifier that does not allow them (a name that now resolves inward).
    set_notification_rules(
        app,
        SetNotificationRules(
            actor=actor("admin"),
            rules=[rule],
            webhook={"url": providers.webhook_url(tenant), "secret": WEBHOOK_SECRET},
            allow_private_webhooks=True,
        ),
    )
    stack(msgspec.structs.replace(notify, webhook_allow_private=False))
    ticket, move = municipal_ticket(app, actor, a_phone())
    move()
    [dead] = eventually(lambda: sent_to(engine, tenant, "webhook", "dead"))
    assert "private" in dead["last_error"] and dead["attempts"] == 1
    assert not [r for r in providers.requests("webhook") if r.path == f"/hooks/{tenant}"]


def test_an_opted_out_reporter_and_a_suppressed_address_are_told_nothing(
    app, actor, tenant, engine, stack, notify, providers, mail, client, auth
):
    quiet, listed, email = a_phone(), a_phone(), an_email()
    stack(notify)
    ticket, move = municipal_ticket(app, actor, quiet)
    assert client.post(f"/api/v1/tickets/{ticket.id}/notifications/opt-out", headers=auth("reporter", sub="citizen-1")).status_code == 200
    move()
    assert client.put(f"/api/v1/suppressions/{listed}", json={"reason": "complained"}, headers=auth("admin")).status_code == 200
    other, move_other = municipal_ticket(app, actor, listed, email)
    move_other()
    assert eventually(lambda: mail.to(email))
    held = {(d["ticket_id"], d["channel"]): d for d in deliveries(engine, tenant) if d["status"] == "suppressed"}
    assert held[(ticket.id, "whatsapp")]["last_error"] == "the reporter opted out of this ticket's messages"
    assert (
        held[(other.id, "whatsapp")]["last_error"]
        == held[(other.id, "sms")]["last_error"]
        == "the address is on the tenant's suppression list"
    )
    assert not providers.requests(to=quiet) and not providers.requests(to=listed)
    # Taken off the list, the address is told again.
    assert client.delete(f"/api/v1/suppressions/{listed}", headers=auth("admin")).status_code == 200
    move_other("resolved")
    assert eventually(lambda: providers.accepted("whatsapp", listed))


def test_the_ordinary_notifier_never_tells_of_a_sensitive_ticket_and_the_sensitive_one_sends_the_neutral_text_only(
    app, actor, tenant, engine, database_url, notify, providers, mail, tmp_path
):
    """Both roles as their own NATS users, with the permissions of workers/nats/authorization.conf."""
    victim_phone, victim_email, desk_email, citizen_phone = a_phone(), an_email("v"), an_email("d"), a_phone()
    with embedded_nats(tmp_path / "nats") as private, settled(engine, tenant):
        running = Stack(app, database_url, private.url_for("relay"), FromNowRelay)
        ordinary = running.add(private.url_for("notifier"), notify, ORDINARY)
        sensitive = running.add(private.url_for("sensitive_notifier"), notify, SENSITIVE)
        with running:
            liaison = actor("liaison", "lee")
            by_phone = opened(app, actor, phone=victim_phone, is_sensitive=True)
            by_mail = opened(app, actor, email=victim_email, is_sensitive=True, sub="citizen-2")
            desk = opened(app, actor, email=desk_email, workflow="helpdesk", is_sensitive=True, sub="citizen-3")
            plain = opened(app, actor, phone=citizen_phone, sub="citizen-4")
            for ticket in (by_phone, by_mail):
                change_status(
                    app, ChangeStatus(actor=liaison, ticket_id=ticket.id, status="in_progress", note="Suspect named Bob", note_public=True)
                )
            add_reply(app, AddReply(actor=liaison, ticket_id=desk.id, body="Internal: officer visited Bob", internal=True))
            add_reply(app, AddReply(actor=liaison, ticket_id=desk.id, body="An officer will visit you at home"))
            change_status(app, ChangeStatus(actor=actor(), ticket_id=plain.id, status="in_progress"))
            assert eventually(
                lambda: (
                    providers.accepted("whatsapp", victim_phone)
                    and mail.to(victim_email)
                    and mail.to(desk_email)
                    and providers.accepted("whatsapp", citizen_phone)
                )
            )
            time.sleep(0.5)
            assert ordinary.sender.sent >= 1 and sensitive.sender.sent == 3
    [whatsapp] = providers.accepted("whatsapp", victim_phone)
    assert whatsapp.template == notify.whatsapp_neutral_template and whatsapp.text == by_phone.tracking_number
    for letter, ticket in ((mail.to(victim_email), by_mail), (mail.to(desk_email), desk)):
        [message] = letter
        assert message.subject == "An update on your report" and message.html is None
        assert message.text.strip() == f"There is an update on your report {ticket.tracking_number}."
    assert [m.template for m in providers.accepted("whatsapp", citizen_phone)] == ["docket_status_update"]
    records = deliveries(engine, tenant)
    secret = {by_phone.id, by_mail.id, desk.id}
    assert all(d["sensitive"] for d in records if d["ticket_id"] in secret)  # the ordinary notifier recorded none of them
    assert not any(d["sensitive"] for d in records if d["ticket_id"] == plain.id)
    assert [d["event"] for d in records if d["ticket_id"] == desk.id] == ["ReplyAdded"]  # the public reply, not the internal note


def test_two_notifiers_together_keep_to_a_channels_rate(app, actor, tenant, engine, database_url, nats_server, notify, providers):
    phones = [a_phone() for _ in range(15)]
    only_channel(app, actor, "sms")
    moves = [municipal_ticket(app, actor, phone)[1] for phone in phones]
    limited = msgspec.structs.replace(notify, rate_sms=5.0)
    running = Stack(app, database_url, nats_server.url_for("relay"))
    for _ in range(2):  # sharing one durable consumer, as two processes would
        running.add(nats_server.admin_url, limited, subject=f"docket.{tenant}.tickets.>", durable=f"notify_{tenant}")
    with running, settled(engine, tenant):
        for move in moves:
            move()
        assert eventually(lambda: sum(len(providers.accepted("sms", p)) for p in phones) == 15, timeout=30)
    times = sorted(r.at for p in phones for r in providers.accepted("sms", p))
    # A bucket of 5 tokens refilled at 5 a second: 15 messages take at least 2 seconds, and no
    # second holds more than 5 + 5.
    assert times[-1] - times[0] >= 1.9
    assert all(sum(1 for t in times if start <= t < start + 1.0) <= 10 for start in times)
    assert sum(n.sender.sent for n in running.notifiers) == 15
