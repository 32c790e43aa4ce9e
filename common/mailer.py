"""E-mail through ``SMTP_URL`` (smtplib, run in a thread by the caller): schedules' deliveries (worker)
and members' invites (web).

``smtp://[user:password@]host[:port]`` (port 25 by default) upgrades with STARTTLS whenever the server
offers it; ``smtps://host[:port]`` (465) speaks TLS from the first byte. A password in the URL is
percent-decoded and never logged (errors name the host only).
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import make_msgid
from urllib.parse import unquote, urlsplit

TIMEOUT_SECONDS = 30.0


class MailFailed(Exception):
    """The SMTP server was unreachable or refused the message."""


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    text: str
    html: str
    attachments: list[tuple[str, str, bytes]] = field(default_factory=list)  # (filename, media type, data)


def build(mail: Mail, sender: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = mail.to
    msg["Subject"] = mail.subject
    msg["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[-1].strip(">") or None)
    msg.set_content(mail.text)
    msg.add_alternative(mail.html, subtype="html")
    for filename, media_type, data in mail.attachments:
        maintype, _, subtype = media_type.partition("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype or "octet-stream", filename=filename)
    return msg


def send(smtp_url: str | None, sender: str, mail: Mail, timeout: float = TIMEOUT_SECONDS) -> None:
    """Blocking. Raises MailFailed (never with the URL's password in it)."""
    if not smtp_url:
        raise MailFailed("SMTP_URL is not set: e-mail deliveries cannot be sent")
    parts = urlsplit(smtp_url)
    host = parts.hostname or "localhost"
    secure = parts.scheme == "smtps"
    port = parts.port or (465 if secure else 25)
    message = build(mail, sender)
    try:
        client: smtplib.SMTP
        if secure:
            client = smtplib.SMTP_SSL(host, port, timeout=timeout, context=ssl.create_default_context())
        else:
            client = smtplib.SMTP(host, port, timeout=timeout)
        with client:
            client.ehlo()
            if not secure and client.has_extn("starttls"):
                client.starttls(context=ssl.create_default_context())
                client.ehlo()
            if parts.username:
                client.login(unquote(parts.username), unquote(parts.password or ""))
            client.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        raise MailFailed(f"SMTP {host}:{port}: {type(exc).__name__}: {str(exc)[:300]}") from None
