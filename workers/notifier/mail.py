"""Email over SMTP: STARTTLS whenever the server offers it, implicit TLS for smtps:// URLs, a
plain-text part and (where the template has one) an HTML part.

The standard library's smtplib is blocking: each message is sent on a worker thread, over its own
connection. Credentials never cross an unencrypted connection to another machine.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from collections.abc import Mapping
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Any
from urllib.parse import unquote, urlsplit
from uuid import UUID

from domain.notification_templates import header_safe
from workers.notifier.channels import MAX_ERROR, Failed, Outcome, Refusal, Sent
from workers.settings import NotifySettings

LOOPBACK = ("127.0.0.1", "::1", "localhost")


class Email:
    name = "email"

    def __init__(self, settings: NotifySettings) -> None:
        parts = urlsplit(settings.smtp_url or "")
        self.implicit_tls = parts.scheme == "smtps"
        self.host = parts.hostname or "localhost"
        self.port = parts.port or (465 if self.implicit_tls else 25)
        self.user = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self.sender = settings.smtp_from or ""
        self.timeout = settings.timeout
        self.tls = ssl.create_default_context(cafile=str(settings.smtp_ca_file) if settings.smtp_ca_file else None)
        domain = parseaddr(self.sender)[1].rpartition("@")[2]
        self.id_domain = domain or "docket.invalid"

    async def send(self, delivery_id: UUID, message: Mapping[str, Any]) -> Outcome:
        return await asyncio.to_thread(self.send_now, delivery_id, message)

    def send_now(self, delivery_id: UUID, message: Mapping[str, Any]) -> Outcome:
        mail = self.compose(delivery_id, message)
        try:
            with self.connect() as smtp:
                self.authenticate(smtp)
                smtp.send_message(mail)
        except smtplib.SMTPRecipientsRefused as refused:
            code, said = next(iter(refused.recipients.values()), (550, b"refused"))
            return _refused(code, said)
        except smtplib.SMTPResponseException as error:
            return _refused(error.smtp_code, error.smtp_error)
        except Refusal as error:
            return Failed(str(error)[:MAX_ERROR], transient=False)
        except (smtplib.SMTPException, OSError) as error:  # dropped connections, timeouts, TLS failures
            return Failed(f"{type(error).__name__}: {error}"[:MAX_ERROR], transient=True)
        return Sent(mail["Message-ID"])

    def compose(self, delivery_id: UUID, message: Mapping[str, Any]) -> EmailMessage:
        mail = EmailMessage()
        mail["From"] = self.sender
        mail["To"] = message["to"]
        mail["Subject"] = header_safe(message["subject"])
        mail["Date"] = format_datetime(datetime.now(UTC))
        # The delivery's id: a repeat after a crash is the same message to any client that looks.
        mail["Message-ID"] = f"<{delivery_id}@{self.id_domain}>"
        mail["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to it
        mail.set_content(message["text"])
        if message.get("html"):
            mail.add_alternative(message["html"], subtype="html")
        return mail

    def connect(self) -> smtplib.SMTP:
        if self.implicit_tls:
            return smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=self.tls)
        smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        try:
            smtp.ehlo()
            if smtp.has_extn("starttls"):
                smtp.starttls(context=self.tls)
                smtp.ehlo()
        except BaseException:
            smtp.close()
            raise
        return smtp

    def authenticate(self, smtp: smtplib.SMTP) -> None:
        if self.user is None:
            return
        encrypted = self.implicit_tls or isinstance(smtp.sock, ssl.SSLSocket)
        if not encrypted and self.host not in LOOPBACK:
            raise Refusal(f"{self.host} offers no STARTTLS: the SMTP password is not sent unencrypted (use smtps://)")
        smtp.login(self.user, self.password or "")


def _refused(code: int, said: bytes | str) -> Failed:
    """SMTP's own rule: a 4xx reply is temporary, a 5xx one permanent."""
    text = said.decode("utf-8", "replace") if isinstance(said, bytes) else str(said)
    return Failed(f"SMTP {code}: {text}"[:MAX_ERROR], transient=400 <= code < 500)
