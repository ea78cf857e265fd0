"""The e-mail adapter: SendGrid's request and answers (through httpx's mock transport), and the
.eml outbox folder used when no SendGrid key is set."""

from __future__ import annotations

import json
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from adapters.mailer import (
    Mail,
    MailRefused,
    MailUnavailable,
    OutboxFolderMailer,
    SendGridMailer,
    mailer,
)
from adapters.settings import Settings

KEY = "SG.unit-test-key"
NEWSLETTER = Mail(
    to_address="asha@example.com",
    to_name="Asha Rao",
    subject="Your film is ready",
    text="Watch it here.\n",
    html="<p>Watch it <a href='https://studio.example/x'>here</a>.</p>",
    category="production_completed",
    unsubscribe_url="https://studio.example/v1/email/unsubscribe?token=abc",
)
RECEIPT = Mail("asha@example.com", "", "Your receipt", "Thanks.\n", "<p>Thanks.</p>", "receipt")


def sendgrid(tmp_path: Path, answer: httpx.Response | Exception) -> tuple[SendGridMailer, list]:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if isinstance(answer, Exception):
            raise answer
        return answer

    settings = Settings(
        state_dir=tmp_path,
        sendgrid_api_key=SecretStr(KEY),
        sendgrid_api_base="https://sendgrid.test/",
        mail_from="studio@example.com",
        mail_from_name="AI Film Studio",
    )
    client = httpx.Client(transport=httpx.MockTransport(handle))
    return SendGridMailer(settings, client), seen


def test_sendgrid_request_is_a_v3_mail_send_with_both_parts_and_the_unsubscribe_headers(tmp_path):
    sender, seen = sendgrid(tmp_path, httpx.Response(202, headers={"X-Message-Id": "m-1"}))
    assert sender.send(NEWSLETTER) == "m-1"
    (request,) = seen
    assert (request.method, str(request.url)) == ("POST", "https://sendgrid.test/v3/mail/send")
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    body = json.loads(request.content)
    assert body["personalizations"] == [{"to": [{"email": "asha@example.com", "name": "Asha Rao"}]}]
    assert body["from"] == {"email": "studio@example.com", "name": "AI Film Studio"}
    assert body["subject"] == "Your film is ready"
    assert [c["type"] for c in body["content"]] == ["text/plain", "text/html"]
    assert body["categories"] == ["production_completed"]
    assert body["headers"] == {
        "List-Unsubscribe": "<https://studio.example/v1/email/unsubscribe?token=abc>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


def test_essential_mail_has_no_unsubscribe_headers_and_no_empty_name(tmp_path):
    sender, seen = sendgrid(tmp_path, httpx.Response(202))
    assert sender.send(RECEIPT) is None  # no message id given
    body = json.loads(seen[0].content)
    assert "headers" not in body
    assert body["personalizations"][0]["to"] == [{"email": "asha@example.com"}]


@pytest.mark.parametrize("status", [429, 500, 502, 503])
def test_rate_limits_and_server_errors_are_worth_retrying(tmp_path, status):
    sender, _ = sendgrid(tmp_path, httpx.Response(status))
    with pytest.raises(MailUnavailable, match=str(status)):
        sender.send(RECEIPT)


def test_network_errors_are_worth_retrying_and_name_no_secret(tmp_path):
    sender, _ = sendgrid(tmp_path, httpx.ConnectError("connection refused"))
    with pytest.raises(MailUnavailable) as raised:
        sender.send(RECEIPT)
    assert KEY not in str(raised.value) and "asha" not in str(raised.value)


@pytest.mark.parametrize("status", [400, 401, 403, 413])
def test_other_client_errors_are_refusals_with_sendgrids_messages(tmp_path, status):
    errors = {"errors": [{"field": "from.email", "message": "does not match a verified Sender"}]}
    sender, _ = sendgrid(tmp_path, httpx.Response(status, json=errors))
    with pytest.raises(MailRefused, match="from.email: does not match a verified Sender"):
        sender.send(RECEIPT)


def test_a_refusal_without_a_json_body_names_the_status(tmp_path):
    sender, _ = sendgrid(tmp_path, httpx.Response(400, text="<html>bad</html>"))
    with pytest.raises(MailRefused, match="400: Bad Request"):
        sender.send(RECEIPT)


def read_eml(path: Path) -> EmailMessage:
    parsed = message_from_bytes(path.read_bytes(), policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def test_outbox_folder_writes_a_standard_multipart_eml(tmp_path):
    folder = tmp_path / "outbox"
    sender = OutboxFolderMailer(folder, "studio@example.com", "AI Film Studio")
    message_id = sender.send(NEWSLETTER)
    (written,) = list(folder.iterdir())
    assert written.suffix == ".eml"
    message = read_eml(written)
    assert message["Message-ID"] == message_id
    assert message["To"] == "Asha Rao <asha@example.com>"
    assert message["From"] == "AI Film Studio <studio@example.com>"
    assert message["Subject"] == "Your film is ready"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message.get_content_type() == "multipart/alternative"
    text, html = message.get_body(("plain",)), message.get_body(("html",))
    assert text is not None and text.get_content() == "Watch it here.\n"
    assert html is not None and "<a href=" in html.get_content()


def test_outbox_folder_keeps_unicode_and_leaves_no_temporary_files(tmp_path):
    sender = OutboxFolderMailer(tmp_path, "studio@example.com", "AI Film Studio")
    hindi = Mail("asha@example.com", "आशा", "आपकी फ़िल्म तैयार है", "नमस्ते\n", "<p>नमस्ते</p>", "x")
    sender.send(hindi)
    sender.send(RECEIPT)
    files = sorted(tmp_path.iterdir())
    assert [f.suffix for f in files] == [".eml", ".eml"], files
    subjects = {read_eml(f)["Subject"] for f in files}
    assert subjects == {"आपकी फ़िल्म तैयार है", "Your receipt"}


def test_an_unwritable_outbox_is_worth_retrying(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(MailUnavailable):
        OutboxFolderMailer(blocker / "outbox", "s@example.com", "S").send(RECEIPT)


def test_the_outbox_folder_is_used_without_a_sendgrid_key(tmp_path):
    assert isinstance(mailer(Settings(state_dir=tmp_path)), OutboxFolderMailer)
    keyed = mailer(Settings(state_dir=tmp_path, sendgrid_api_key=SecretStr(KEY)))
    assert isinstance(keyed, SendGridMailer)
    keyed.close()


def test_a_mails_address_stays_out_of_its_repr():
    assert "asha" not in repr(NEWSLETTER).lower() and "Asha Rao" not in repr(NEWSLETTER)
