"""Sending e-mail: SendGrid's v3 Mail Send API, or .eml files in a folder when no key is set.

A `Mailer` either sends (returning the provider's message id, if any) or raises
`MailUnavailable` (try again later: rate limited, the provider down, the network) or
`MailRefused` (this e-mail will never be accepted). Addresses and keys are never logged.
"""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid
from pathlib import Path
from typing import Any, Protocol

import httpx

from adapters.settings import Settings

log = logging.getLogger(__name__)

SEND_PATH = "/v3/mail/send"
TIMEOUT_SECONDS = 10.0


class MailUnavailable(Exception):
    """The e-mail could not be sent now; the same request may succeed later."""


class MailRefused(Exception):
    """The provider refused this e-mail for good (a malformed request, a refused address)."""


@dataclass(frozen=True)
class Mail:
    """One e-mail to one person. `unsubscribe_url` (non-essential mail only) adds the
    List-Unsubscribe headers of RFC 2369 and the one-click POST of RFC 8058."""

    to_address: str = field(repr=False)  # personal: kept out of logs and tracebacks
    to_name: str = field(repr=False)
    subject: str
    text: str
    html: str
    category: str
    unsubscribe_url: str | None = None

    @property
    def headers(self) -> dict[str, str]:
        if not self.unsubscribe_url:
            return {}
        return {
            "List-Unsubscribe": f"<{self.unsubscribe_url}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        }


class Mailer(Protocol):
    def send(self, mail: Mail) -> str | None:
        """Send `mail`; the provider's message id, if it gives one."""
        ...


class SendGridMailer:
    """SendGrid v3 `POST /v3/mail/send`: 202 is sent; 429, 5xx and network errors are
    `MailUnavailable`; any other answer is `MailRefused` with SendGrid's error messages."""

    def __init__(self, settings: Settings, client: httpx.Client | None = None) -> None:
        if settings.sendgrid_api_key is None:
            raise ValueError("SendGridMailer needs FILMSTUDIO_SENDGRID_API_KEY")
        self._key = settings.sendgrid_api_key.get_secret_value()
        self._url = settings.sendgrid_api_base.rstrip("/") + SEND_PATH
        self._sender = {"email": settings.mail_from, "name": settings.mail_from_name}
        self._client = client or httpx.Client(timeout=TIMEOUT_SECONDS)

    def body(self, mail: Mail) -> dict[str, Any]:
        """The Mail Send request body of `mail`."""
        to: dict[str, str] = {"email": mail.to_address}
        if mail.to_name:
            to["name"] = mail.to_name
        body: dict[str, Any] = {
            "personalizations": [{"to": [to]}],
            "from": self._sender,
            "subject": mail.subject,
            "content": [
                {"type": "text/plain", "value": mail.text},
                {"type": "text/html", "value": mail.html},
            ],
            "categories": [mail.category],
        }
        if mail.headers:
            body["headers"] = mail.headers
        return body

    def send(self, mail: Mail) -> str | None:
        try:
            response = self._client.post(
                self._url,
                json=self.body(mail),
                headers={"Authorization": f"Bearer {self._key}"},
            )
        except httpx.TransportError as error:
            raise MailUnavailable(f"SendGrid unreachable: {type(error).__name__}") from error
        status = response.status_code
        if status == 202:
            message_id: str | None = response.headers.get("X-Message-Id")
            return message_id
        if status == 429 or status >= 500:
            raise MailUnavailable(f"SendGrid answered {status}")
        raise MailRefused(f"SendGrid answered {status}: {_errors(response)}")

    def close(self) -> None:
        self._client.close()


def _errors(response: httpx.Response) -> str:
    """SendGrid's error messages (`{"errors": [{"message", "field"}]}`), else the status text."""
    try:
        errors = response.json().get("errors") or []
        messages = [
            f"{e.get('field')}: {e.get('message')}" if e.get("field") else str(e.get("message"))
            for e in errors
            if isinstance(e, dict)
        ]
    except (ValueError, AttributeError):
        messages = []
    return "; ".join(messages) or response.reason_phrase


class OutboxFolderMailer:
    """Writes each e-mail as a standard .eml file (text and HTML alternatives) into a folder,
    atomically (a temporary file renamed into place): for running with no e-mail provider."""

    def __init__(self, directory: Path, sender: str, sender_name: str) -> None:
        self.directory = directory
        self._sender = formataddr((sender_name, sender))
        self._domain = sender.rpartition("@")[2] or None

    def message(self, mail: Mail) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self._sender
        message["To"] = formataddr((mail.to_name, mail.to_address))
        message["Subject"] = mail.subject
        message["Date"] = format_datetime(datetime.now(UTC))
        message["Message-ID"] = make_msgid(domain=self._domain)
        message["X-Category"] = mail.category
        for name, value in mail.headers.items():
            message[name] = value
        message.set_content(mail.text)
        message.add_alternative(mail.html, subtype="html")
        return message

    def send(self, mail: Mail) -> str | None:
        message = self.message(mail)
        message_id = str(message["Message-ID"])
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        name = f"{stamp}-{message_id.strip('<>').partition('@')[0]}.eml"
        temporary: str | None = None
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd, temporary = tempfile.mkstemp(dir=self.directory, prefix=".", suffix=".tmp")
            with os.fdopen(fd, "wb") as file:
                file.write(message.as_bytes())
            os.replace(temporary, self.directory / name)
        except OSError as error:
            if temporary is not None:
                Path(temporary).unlink(missing_ok=True)
            raise MailUnavailable(f"cannot write to the outbox folder: {error.strerror}") from error
        return message_id


def mailer(settings: Settings) -> SendGridMailer | OutboxFolderMailer:
    """SendGrid when an API key is set, else the outbox folder."""
    if settings.sendgrid_api_key is not None:
        return SendGridMailer(settings)
    log.info("no SendGrid key: e-mails go to %s as .eml files", settings.mail_outbox)
    return OutboxFolderMailer(settings.mail_outbox, settings.mail_from, settings.mail_from_name)
