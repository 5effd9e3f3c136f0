"""E-mail delivery through the outbox to a local SMTP server (aiosmtpd, real socket, real smtplib): the PDF
attached and checked, the hosted link; 451 then success -> delivered once; 550 -> delivery_failed, audited and
a notification queued; the sender killed between the send and its record -> not sent twice on restart."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import timedelta

import pypdf
import pytest
from babel import Locale

from channels.documents import Renderer
from channels.documents._lines import describe
from channels.email import InvoiceMailer
from domain.services import delivery, invoicing, outbox
from domain.services.documents import DocumentView
from domain.services.views import InvoiceView
from domain.settings import Settings
from domain.store.clock import FixedClock
from tests.documents.conftest import issued_full
from tests.fakes.smtp import SmtpServer, free_port
from tests.services.conftest import World


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


class CachingRenderer(Renderer):
    """The real renderer, remembering PDFs by their HTML: the same invoice (same number on every test's fresh
    database) is rendered once for the module, which keeps these tests quick."""

    def __init__(self) -> None:
        super().__init__()
        self.cache: dict[str, bytes] = {}

    def pdf(self, doc: DocumentView, links: dict[str, str] | None = None) -> bytes:
        html = self.html(doc, links)
        if html not in self.cache:
            self.cache[html] = super().pdf(doc, links)
        return self.cache[html]


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return CachingRenderer()


def mailer(world: World, smtp: SmtpServer | int, renderer: Renderer) -> InvoiceMailer:
    port = smtp if isinstance(smtp, int) else smtp.port
    settings = Settings(smtp_host="127.0.0.1", smtp_port=port, smtp_starttls=False,
                        smtp_from="bills@seller.example", smtp_timeout=5, public_url="https://bills.example")
    return InvoiceMailer(world.db, settings, renderer)


def dispatch(world: World, send: InvoiceMailer) -> int:
    return outbox.dispatch_outbox(world.db.uow(), send)


def test_sent_with_the_pdf_and_the_link_then_marked_sent(world: World, smtp: SmtpServer, renderer: Renderer) -> None:
    inv = issued_full(world)
    queued = world.call(delivery.send_invoice, world.actor("finance"), inv.id)
    assert queued.status == "queued" and queued.recipients == ["ap@client.example"]
    assert dispatch(world, mailer(world, smtp, renderer)) == 1
    assert len(smtp.received) == 1
    msg = smtp.received[0]
    assert msg["Message-ID"] == queued.message_id and msg["To"] == "ap@client.example"
    body = msg.get_body(("plain",))
    assert body is not None
    token = world.call(delivery.get_delivery, world.system, inv.id)
    assert token is not None and token.status == "sent"
    assert "https://bills.example/i/" in body.get_content()
    [attachment] = list(msg.iter_attachments())
    assert attachment.get_filename() == f"{inv.number}.pdf"
    text = "\n".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(attachment.get_content())).pages)
    assert inv.number is not None and inv.number in text and "Nordwerk Maschinenbau GmbH" in text
    assert "Nach Aufwand" in text and "Umsatzsteuer" in text and "19 %" in text  # a de_DE client: in German
    assert msg["Subject"].startswith(f"Rechnung {inv.number} von ") and "anbei erhalten Sie" in body.get_content()
    flat = text.replace("\n", " ")
    de = Locale.parse("de_DE")  # the lines as the German document words them (issue 12)
    assert all(describe(ln.description, ln.source, "de", de)[:20] in flat for ln in inv.lines)
    assert "Managed IT services — März 2026" in flat
    assert world.call(invoicing.get_invoice, world.system, inv.id).status == "sent"
    actions = world.audit_actions("invoice", inv.id)
    assert actions.count("invoice.delivery_queued") == 1 and actions.count("invoice.sent") == 1
    assert dispatch(world, mailer(world, smtp, renderer)) == 0 and len(smtp.received) == 1


def _after_backoff(world: World) -> None:
    clock = world.db.clock
    assert isinstance(clock, FixedClock)
    clock.set(clock.now() + timedelta(hours=1))


def test_451_then_success_is_delivered_once(world: World, smtp: SmtpServer, renderer: Renderer) -> None:
    inv = issued_full(world)
    world.call(delivery.send_invoice, world.actor("finance"), inv.id)
    smtp.handler.data_replies.append("451 4.3.0 Try again later")
    assert dispatch(world, mailer(world, smtp, renderer)) == 0
    d = world.call(delivery.get_delivery, world.system, inv.id)
    assert d is not None and d.status == "queued" and "451" in d.last_error and not smtp.received
    assert dispatch(world, mailer(world, smtp, renderer)) == 0  # backing off: nothing tried
    _after_backoff(world)
    assert dispatch(world, mailer(world, smtp, renderer)) == 1
    assert len(smtp.received) == 1
    d = world.call(delivery.get_delivery, world.system, inv.id)
    assert d is not None and d.status == "sent" and d.attempts == 2
    _after_backoff(world)
    assert dispatch(world, mailer(world, smtp, renderer)) == 0 and len(smtp.received) == 1


def test_connection_refused_is_transient(world: World, renderer: Renderer) -> None:
    inv = issued_full(world)
    world.call(delivery.send_invoice, world.actor("finance"), inv.id)
    assert dispatch(world, mailer(world, free_port(), renderer)) == 0  # nobody listens there
    d = world.call(delivery.get_delivery, world.system, inv.id)
    assert d is not None and d.status == "queued" and "ConnectionRefused" in d.last_error


def test_550_is_delivery_failed_audited_and_notified(world: World, smtp: SmtpServer, renderer: Renderer) -> None:
    inv = issued_full(world)
    smtp.handler.refuse["ap@client.example"] = "550 5.1.1 No such user"
    world.call(delivery.send_invoice, world.actor("finance"), inv.id)
    dispatch(world, mailer(world, smtp, renderer))
    d = world.call(delivery.get_delivery, world.system, inv.id)
    assert d is not None and d.status == "failed" and "550" in d.last_error
    assert world.call(invoicing.get_invoice, world.system, inv.id).status == "issued"
    assert "invoice.delivery_failed" in world.audit_actions("invoice", inv.id)
    notes = [m for m in world.call(outbox.list_outbox, world.system) if m.topic == delivery.NOTIFY_TOPIC]
    assert len(notes) == 1 and notes[0].payload["invoice_id"] == inv.id
    _after_backoff(world)
    dispatch(world, mailer(world, smtp, renderer))
    assert not smtp.received


class Killed(BaseException):
    """The process dying: not an Exception, so nothing on the way up handles it."""


def test_killed_between_send_and_record_is_not_sent_twice(world: World, smtp: SmtpServer, renderer: Renderer,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    inv = issued_full(world)
    world.call(delivery.send_invoice, world.actor("finance"), inv.id)

    def die(*_: object) -> None:
        raise Killed

    with monkeypatch.context() as m:
        m.setattr(delivery, "record_sent", die)
        with pytest.raises(Killed):
            dispatch(world, mailer(world, smtp, renderer))
    assert len(smtp.received) == 1  # it went out; nothing was recorded
    _after_backoff(world)  # the lease runs out: the restarted worker takes the message again
    dispatch(world, mailer(world, smtp, renderer))
    assert len(smtp.received) == 1
    d = world.call(delivery.get_delivery, world.system, inv.id)
    assert d is not None and d.status == "sent" and "unconfirmed" in d.last_error
    assert world.call(invoicing.get_invoice, world.system, inv.id).status == "sent"


def test_only_issued_invoices_are_sent(world: World) -> None:
    from domain.errors import BadTransition, Forbidden

    draft: InvoiceView = world.draft(world.retainer_client())
    with pytest.raises(BadTransition):
        world.call(delivery.send_invoice, world.actor("finance"), draft.id)
    with pytest.raises(Forbidden):
        world.call(delivery.send_invoice, world.actor("viewer"), draft.id)
