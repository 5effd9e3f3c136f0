"""Rendering benchmark: PDFs per second for a 30-line invoice (Jinja2 + Babel -> HTML -> WeasyPrint PDF; goal >= 10
new PDFs/s per core, from the CPU seconds), and the cost of its e-invoices (issue 12): the XML of each format per
invoice (goal <= 20 ms) and the Factur-X PDF (PDF/A-3b with the CII XML embedded) against the plain PDF (goal
<= 1.3x), each printed with its goal and MET or MISSED.

Renders one warm-up PDF, then N new ones (each another invoice number), and prints PDFs/s with the CPU time of
each phase (HTML parse, layout, PDF write), then the same document asked for again (the renderer keeps recent
PDFs by their HTML's digest) and HTML/s; with --results, appends the figures to benchmarks/RESULTS.md. Run by
`make bench` (never by the tests).

    python benchmarks/render.py [--pdfs 20] [--results]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _many_documents import MANY_DEFAULT, many_documents  # noqa: E402  (benchmarks/ is the script's folder)
from weasyprint import HTML  # noqa: E402

from channels.documents import Renderer  # noqa: E402
from channels.documents._render import BUILTIN  # noqa: E402
from channels.documents._typst import typst_pdf  # noqa: E402
from channels.documents.einvoice import facturx_pdf, xml  # noqa: E402
from domain.model.einvoice import FORMATS, Address, Party  # noqa: E402
from domain.services.documents import DocumentView  # noqa: E402
from domain.services.einvoice import input_from_document  # noqa: E402
from domain.services.views import ClientView, InvoiceView, LineView  # noqa: E402

SECTIONS = ["retainer", "time", "time", "time", "milestone", "subscription", "pass_through", "sla_credit"]


def thirty_line_invoice() -> DocumentView:
    now = datetime(2026, 3, 31, tzinfo=UTC)
    lines = []
    for i in range(30):
        section = SECTIONS[i % len(SECTIONS)]
        amount = "-250.00" if section == "sla_credit" else f"{100 + i * 37}.50"
        lines.append(LineView(id=i + 1, position=i + 1, section=section, description=f"Line {i + 1}: {section} work "
                              "for the managed services contract, with enough words to wrap once", quantity="2.5",
                              unit="h", unit_price="115.00", amount=amount, tax_rate="19", tax="0.00",
                              arrangement_id=None, source={}, manual=False))
    inv = InvoiceView(id=1, kind="invoice", number="INV-2026-000042", status="issued", client_id=1,
                      client_name="Nordwerk Maschinenbau GmbH", currency="EUR", period_start=date(2026, 3, 1),
                      period_end=date(2026, 3, 31), issue_date=date(2026, 3, 31), due_date=date(2026, 4, 30),
                      subtotal="25000.00", tax_total="4750.00", total="29750.00", paid="0.00", credited="0.00",
                      balance="29750.00", overdue=False,
                      tax_by_rate=[{"rate": "19", "taxable": "25000.00", "tax": "4750.00"}], tax_note="",
                      po_number="4500183920", checks=[], reason="", corrects_invoice_id=None, lines=lines,
                      created_at=now, issued_at=now)
    client = ClientView(id=1, name="Nordwerk Maschinenbau GmbH", currency="EUR",
                        billing_emails=["rechnungen@nordwerk.example"], payment_terms_days=30, tax_profile={},
                        po_required=True, po_number="4500183920", locale="de_DE", account_manager_ids=[],
                        created_at=now)
    return DocumentView(invoice=inv, client=client, seller="Billable Demo GmbH", locale="de_DE",
                        payment_terms_days=30)


def _median(xs: list[float]) -> float:
    return sorted(xs)[len(xs) // 2]


SELLER = Party(name="Billable Demo GmbH", address=Address(lines=["Königstraße 10"], city="Stuttgart",
                                                           postcode="70173", country="DE"),
               vat_id="DE136695976", endpoint="DE136695976", endpoint_scheme="9930", contact_name="Petra Brandt",
               contact_phone="+49 711 1234560", contact_email="billing@demo.example")
BUYER = Party(name="Nordwerk Maschinenbau GmbH", address=Address(lines=["Hafenstraße 3"], city="Hamburg",
                                                                 postcode="20457", country="DE"),
              vat_id="DE811569869")


GOAL_PER_CORE = 10.0  # issue 17: a new 30-line PDF at >= 10/s per core


def _verdict(ok: bool) -> str:
    return "MET" if ok else "MISSED"


def einvoice_figures(renderer: Renderer, docs: list[DocumentView], rounds: int) -> list[str]:
    """E-invoice XML per invoice and format (input mapping included), and Factur-X PDF vs plain PDF (new PDFs)."""
    out = []
    for fmt in FORMATS:
        times = []
        for _ in range(rounds):
            for doc in docs:
                # CPU time of this process: on a shared machine, wall time mostly measures the other processes
                t = time.process_time()
                xml(input_from_document(doc, SELLER, BUYER, buyer_reference="04011000-1234512345-06",
                                        iban="DE89370400440532013000"), fmt)
                times.append((time.process_time() - t) * 1000)
        ms = _median(times)
        out.append(f"e-invoice XML `{fmt}`, 30 lines (input mapping + XML): median {ms:.1f} ms CPU per invoice "
                   f"(goal <= 20 ms: {_verdict(ms <= 20)})")
    plain, fx = [], []
    for i, doc in enumerate(docs):  # alternate, so machine load hits both alike; every PDF is new (no cache hit)
        d = doc.model_copy(update={"invoice": doc.invoice.model_copy(update={"number": f"FX-{i:06}"})})
        t = time.process_time()
        renderer.pdf(d)
        plain.append(time.process_time() - t)
        d = d.model_copy(update={"invoice": d.invoice.model_copy(update={"number": f"FY-{i:06}"})})
        t = time.process_time()
        facturx_pdf(renderer.pdf(d, variant="pdf/a-3b"), input_from_document(d, SELLER, BUYER))
        fx.append(time.process_time() - t)
    ratio = _median(fx) / _median(plain)
    out.append(f"Factur-X PDF (PDF/A-3b + embedded CII) {_median(fx) * 1000:.0f} ms CPU vs plain PDF "
               f"{_median(plain) * 1000:.0f} ms CPU (medians of {len(docs)} new PDFs each): {ratio:.2f}x "
               f"(goal <= 1.3x: {_verdict(ratio <= 1.3)})")
    return out


def typst_figures(renderer: Renderer, docs: list[DocumentView]) -> tuple[str, float]:
    """New PDFs with the built-in template: CPU per PDF split into the view (context, Babel, gettext, JSON) and
    Typst (layout and PDF write); the PDFs/s one core makes, with its goal."""
    phases: list[tuple[float, float]] = []
    size = 0
    t = time.perf_counter()
    for doc in docs:
        c0 = time.process_time()
        data = renderer.typst_view(doc)
        c1 = time.process_time()
        size = len(typst_pdf(data))
        phases.append((c1 - c0, time.process_time() - c1))
    wall_s = len(docs) / (time.perf_counter() - t)
    view_ms, typst_ms = (_median([p[i] for p in phases]) * 1000 for i in range(2))
    mean_cpu = sum(a + b for a, b in phases) / len(phases)
    per_core = 1 / mean_cpu
    line = (f"30-line invoice, built-in template (Typst), {len(docs)} new PDFs after a warm-up: {per_core:.1f} PDFs/s "
            f"per core ({mean_cpu * 1000:.0f} ms CPU each; goal >= 10 PDFs/s per core: {_verdict(per_core >= 10)}); "
            f"CPU per PDF (medians): view (context, Babel, gettext, JSON) {view_ms:.0f} ms, Typst layout + PDF "
            f"{typst_ms:.0f} ms ({size // 1024} KiB); {wall_s:.1f} PDFs/s by the wall clock, one process")
    return line, per_core


def weasyprint_figures(renderer: Renderer, docs: list[DocumentView]) -> tuple[str, float]:
    """New PDFs as a company's own HTML template gets them (WeasyPrint from the HTML), for information; and the CPU
    seconds of one."""
    phases: list[tuple[float, float, float]] = []  # CPU seconds: HTML parse, layout, PDF write
    size = 0
    t = time.perf_counter()
    for doc in docs:
        c0 = time.process_time()
        document = HTML(string=renderer.html(doc), base_url=str(BUILTIN))
        c1 = time.process_time()
        laid_out = document.render()
        c2 = time.process_time()
        size = len(laid_out.write_pdf())
        phases.append((c1 - c0, c2 - c1, time.process_time() - c2))
    wall_s = len(docs) / (time.perf_counter() - t)
    parse, layout, write = (_median([p[i] for p in phases]) * 1000 for i in range(3))
    mean_cpu = sum(map(sum, phases)) / len(phases)
    return (f"30-line invoice, a company's own HTML template (WeasyPrint; information, no goal), {len(docs)} new "
            f"PDFs: {1 / mean_cpu:.2f} PDFs/s per core ({mean_cpu * 1000:.0f} ms CPU each); CPU per PDF (medians): "
            f"HTML parse {parse:.0f} ms, layout {layout:.0f} ms, PDF write {write:.0f} ms ({size // 1024} KiB); "
            f"{wall_s:.2f} PDFs/s by the wall clock"), mean_cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pdfs", type=int, default=20)
    ap.add_argument("--invoices", type=int, default=MANY_DEFAULT,
                    help="invoices for the many-documents figure (0: skip it)")
    ap.add_argument("--results", action="store_true", help="append the figures to benchmarks/RESULTS.md")
    args = ap.parse_args()
    renderer, base = Renderer(), thirty_line_invoice()
    # a new invoice each time (another number), as at issue: never a PDF the renderer has kept
    docs = [base.model_copy(update={"invoice": base.invoice.model_copy(update={"number": f"INV-2026-{i:06}"})})
            for i in range(args.pdfs + 1)]
    renderer.pdf(docs[-1])  # warm-up: imports, fonts
    HTML(string=renderer.html(docs[-1]), base_url=str(BUILTIN)).write_pdf()
    t = time.perf_counter()
    for _ in range(args.pdfs * 5):
        renderer.html(base)
    html_s = args.pdfs * 5 / (time.perf_counter() - t)
    line, _ = typst_figures(renderer, docs[:-1])
    renderer.pdf(base)
    t = time.perf_counter()
    for _ in range(args.pdfs * 5):
        renderer.pdf(base)
    again_s = args.pdfs * 5 / (time.perf_counter() - t)
    weasy, weasy_cpu = weasyprint_figures(renderer, docs[:-1])
    # make bench keeps only the lines with a verdict: the WeasyPrint figure rides along on this one
    line += (f"; the same document again (kept by its digest): {again_s:.0f} PDFs/s; {html_s:.0f} HTML/s; a company's "
             f"own HTML template (WeasyPrint): {1 / weasy_cpu:.2f} PDFs/s per core ({weasy_cpu * 1000:.0f} ms CPU)")
    print(line, flush=True)
    print(weasy, flush=True)
    lines = [line, weasy]
    extra = einvoice_figures(renderer, docs[:-1], rounds=5)
    for e in extra:
        print(e, flush=True)
    if args.invoices:
        many = many_documents(args.invoices)
        for m in many:
            print(m, flush=True)
        extra += many
    if args.results:
        machine = f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
        command = f"python benchmarks/render.py --pdfs {args.pdfs} --invoices {args.invoices} --results"
        with (ROOT / "benchmarks" / "RESULTS.md").open("a", encoding="utf-8") as f:
            if f.tell() == 0:
                f.write("# Benchmark results\n")
            f.write(f"\n## Rendering ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)\n\n- machine: {machine}; load "
                    f"average {os.getloadavg()[0]:.1f} at the end\n- command: `{command}`\n"
                    + "".join(f"- {e}\n" for e in lines + extra))


if __name__ == "__main__":
    main()
