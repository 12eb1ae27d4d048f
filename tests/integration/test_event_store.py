"""What lies in the events table."""

from __future__ import annotations

from commands.structs import OpenTicket
from commands.tickets import open_ticket


def test_stored_events_are_encrypted_at_rest(app, actor):
    marker = "Confidential-report-7f3a"
    opened = open_ticket(
        app, OpenTicket(actor=actor("reporter", "c1"), title=marker, description=marker, category="gbv", is_sensitive=True)
    )
    with app.recorder.datastore.transaction(commit=False) as curs:
        curs.execute("SELECT state FROM docket_events WHERE originator_id = %s", (opened.id,))
        states = [bytes(row["state"]) for row in curs.fetchall()]
    assert states and all(marker.encode() not in state for state in states)
    assert app.repository.get(opened.id).title == marker
