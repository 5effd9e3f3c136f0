"""The demo workspace: a small IT-services company with three clients, a month of work and invoices in
every interesting state. Built only through the use cases, as the people of the story, so the audit log
tells the story too.

The story runs on a timeline that ends now: clients signed two months ago, time logged day by day, last
month's invoices drafted, checked, approved and part-paid in the first days of this month. Loading it a
second time loads nothing: the demo users get fresh tokens instead (tokens are stored hashed, so rotating
them is the only way to show them again).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_DOWN, Decimal
from functools import partial
from typing import Any

from domain.errors import NotFound
from domain.model.money import round_money
from domain.model.parties import DocumentLanguage, EInvoiceFormat, ElectronicAddress, PostalAddress
from domain.model.roles import Actor, Perm, Role
from domain.model.tax import TaxProfile
from domain.services import clients as clients_svc
from domain.services import contracts, invoicing, parties, users, work, workspace
from domain.services._auth import require
from domain.services.views import ArrangementView, ClientView, InvoiceView, UserView
from domain.store.clock import Clock
from domain.store.uow import UnitOfWork

DOMAIN = "brightline.example"
COMPANY = "Brightline IT Services"

# (name, role, e-mail local part): one user per role.
DEMO_USERS: tuple[tuple[str, Role, str], ...] = (
    ("Maya Brandt", Role.OWNER, "maya.brandt"),
    ("Tom Okafor", Role.FINANCE, "tom.okafor"),
    ("Lena Vogt", Role.ACCOUNT_MANAGER, "lena.vogt"),
    ("Priya Nair", Role.CONTRACTOR, "priya.nair"),
    ("Oliver Hughes", Role.VIEWER, "oliver.hughes"),
)
DEMO_EMAILS: dict[Role, str] = {role: f"{local}@{DOMAIN}" for _, role, local in DEMO_USERS}

# The seller, with identifiers whose check digits are right (python-stdnum, schwifty): the invoices it issues say
# everything Art. 226 of the VAT Directive and §14 UStG ask of a German seller.
SELLER: dict[str, Any] = {
    "legal_name": "Brightline IT Services GmbH",
    "address": {"street": "Königstraße 28", "postcode": "70173", "city": "Stuttgart", "country": "DE"},
    "vat_id": "DE147820932",
    "tax_number": "93815/08152",
    "registration": "HRB 765432, Amtsgericht Stuttgart",
    "contact": {"name": "Tom Okafor", "email": f"billing@{DOMAIN}", "phone": "+49 711 2205 3140"},
    "bank_account": {"iban": "DE02600501017495530102", "bic": "SOLADEST600", "bank_name": "BW-Bank Stuttgart"},
    "electronic_address": {"scheme": "9930", "identifier": "DE147820932"},
}

# The marker: the demo is loaded when its first client exists.
NORDWERK, HARBOUR, VANDIJK = "demo:nordwerk", "demo:harbour-finch", "demo:van-dijk"

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class DemoUser:
    user: UserView
    token: str


@dataclass
class DemoReport:
    """What `load_demo` did: whether it loaded anything, the users with fresh tokens, and the books."""

    created: bool
    users: list[DemoUser]
    clients: list[ClientView] = field(default_factory=list)
    invoices: list[InvoiceView] = field(default_factory=list)
    time_entries: int = 0

    def token_for(self, role: Role) -> str:
        return next(u.token for u in self.users if u.user.role == role.value)


class _Timeline(Clock):
    """The story's clock: set forward event by event, never past the real now."""

    def __init__(self, real: Clock) -> None:
        self.real = real
        self.at = datetime(1970, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        return min(self.at, self.real.now())

    def set(self, at: datetime) -> None:
        self.at = at


def _month_start(d: date, back: int = 0) -> date:
    m = d.month - 1 - back
    return date(d.year + m // 12, m % 12 + 1, 1)


def _month_end(start: date) -> date:
    return _month_start(start, -1) - timedelta(days=1)


def _workdays(first: date, last: date) -> list[date]:
    out, d = [], first
    while d <= last:
        if d.weekday() < 5:
            out.append(d)
        d += timedelta(days=1)
    return out


def _first_workday(d: date) -> date:
    while d.weekday() >= 5:
        d += timedelta(days=1)
    return d


def _at(d: date, hh: int, mm: int = 0) -> datetime:
    return datetime.combine(d, time(hh, mm), UTC)


# ---- who does what, and how they describe it -------------------------------------------------------

_NOTES: dict[tuple[str, str], tuple[str, ...]] = {
    (NORDWERK, "Senior engineer"): (
        "Patched Windows Server 2019 hosts (monthly cumulative update), rebooted in maintenance window",
        "Veeam backup job failures on FS02 investigated: repository full, retention adjusted",
        "Firewall rule review for the new MES VLAN with Nordwerk production IT",
        "Replaced failed disk in ESXi host 2, RAID rebuild monitored",
        "Network assessment: switch inventory and port mapping in Werk 2",
        "Core switch configuration drafted for phase 2 (VLANs, LACP, STP priorities)",
        "Investigated intermittent VPN drops for field service engineers (#4817)",
        "Hardened domain controllers: disabled NTLMv1, LDAP signing enforced",
        "vSphere 8 upgrade of the test cluster, compatibility checks",
        "Certificate renewal for the ERP web portal and reverse proxy",
    ),
    (NORDWERK, "Engineer"): (
        "Onboarded 3 new starters: laptops, M365 licences, MFA enrolment",
        "Intune compliance policy for shop-floor tablets",
        "Migrated Engineering shared drive to SharePoint, permissions mapped",
        "Printer fleet driver update and scan-to-mail fix in Werk 1",
        "Deployed SAP Business One client to the finance team",
        "Cleaned up stale AD accounts and groups (quarterly review)",
        "Set up Teams rooms in the new meeting room, Werk 2",
        "Replaced UPS batteries in the server room, tested failover",
    ),
    (NORDWERK, "Service desk"): (
        "Service desk tickets: password resets, Outlook profile issues (#4790–#4796)",
        "Service desk: laptop replacement for sales, data transfer",
        "Service desk: mobile device enrolment, 4 users",
        "Service desk: shared mailbox permissions, distribution lists",
        "Service desk: VPN client reinstall for field service (#4812)",
    ),
    (NORDWERK, "Project manager"): (
        "Weekly status call with Nordwerk IT lead, minutes and action list",
        "Network refresh: phase 2 planning, change request CR-118 prepared",
        "Vendor coordination with Cisco partner on switch delivery dates",
        "Steering committee deck for the network refresh project",
    ),
    (NORDWERK, "Solution architect"): (
        "Network refresh: target design review (core, access, Wi-Fi)",
        "Wi-Fi survey results analysed, AP placement plan for Werk 2",
        "Backup architecture review: immutable copies, offsite retention",
    ),
    (HARBOUR, "Engineer"): (
        "Mac fleet patching via Jamf, 2 devices chased manually",
        "New starter set-up: MacBook, Google Workspace, 1Password",
        "Backup restore test of the project archive (quarterly)",
        "Wi-Fi access point firmware upgrade, London office",
        "Replaced meeting room display and configured AirPlay",
        "Conditional access review for the studio's contractors",
    ),
    (HARBOUR, "Service desk"): (
        "Printer on 2nd floor jamming: rollers replaced, driver updated",
        "Password reset and MFA re-enrolment, 2 users",
        "Adobe Creative Cloud licence reassignment",
        "Slow Wi-Fi complaint in the studio investigated: channel changed",
        "Leaver process: account disabled, laptop wiped and re-imaged",
        "Shared calendar permissions for the partners' assistants",
    ),
    (VANDIJK, "Solution architect"): (
        "Azure landing zone design workshop with Van Dijk IT",
        "Hub-and-spoke network design, IP plan and DNS resolution",
        "Entra ID conditional access policies: design and pilot group",
        "Migration wave planning for the TMS and warehouse systems",
        "Cost model for Azure reserved instances vs. pay-as-you-go",
    ),
    (VANDIJK, "Engineer"): (
        "Terraform modules for the hub network and firewall",
        "Warehouse scanner Wi-Fi survey, Venlo DC",
        "Azure Site Recovery set-up for the TMS database servers",
        "Log Analytics workspace and alert rules for the landing zone",
        "Migration runbook for the TMS database, dry run on test",
        "Private endpoints for storage accounts, DNS zones linked",
    ),
    (VANDIJK, "Project manager"): (
        "Weekly migration stand-up with Van Dijk, RAID log updated",
        "Cut-over plan review with the warehouse operations lead",
    ),
}

# person, role, [(client, entries per working day as a probability or a count, hours range)]
_STAFF: tuple[tuple[str, str, tuple[tuple[str, float, tuple[float, float]], ...]], ...] = (
    ("Jonas Weber", "Senior engineer", ((NORDWERK, 1.6, (1.5, 3.5)),)),
    ("Aylin Demir", "Engineer", ((NORDWERK, 1.0, (1.0, 3.0)), (HARBOUR, 0.5, (1.0, 2.5)))),
    ("Ben Carter", "Service desk", ((HARBOUR, 1.2, (0.5, 1.5)), (NORDWERK, 0.8, (0.5, 1.5)))),
    ("Sam Whitfield", "Project manager", ((NORDWERK, 0.7, (0.5, 1.5)), (VANDIJK, 0.5, (0.5, 1.5)))),
    ("Marta Kowalski", "Solution architect", ((VANDIJK, 1.3, (2.0, 4.0)), (NORDWERK, 0.35, (1.5, 3.0)))),
    (DEMO_EMAILS[Role.CONTRACTOR], "Engineer", ((VANDIJK, 1.0, (3.0, 6.0)),)),
)


@dataclass(frozen=True)
class _Entry:
    client: str
    person: str
    role: str
    day: date
    hours: Decimal
    description: str


def _timesheets(rng: random.Random, days: list[date], only: set[str] | None = None) -> list[_Entry]:
    out = []
    for day in days:
        for person, role, work_on in _STAFF:
            for client, per_day, (lo, hi) in work_on:
                if only is not None and client not in only:
                    continue
                n = int(per_day) + (1 if rng.random() < per_day - int(per_day) else 0)
                for _ in range(n):
                    steps = int((hi - lo) * 4)
                    hours = Decimal(str(lo)) + Decimal(rng.randint(0, steps)) / 4
                    out.append(_Entry(client, person, role, day, hours,
                                      rng.choice(_NOTES[(client, role)])))
    return out


# ---- the story ---------------------------------------------------------------------------------------

def is_loaded(uow: UnitOfWork) -> bool:
    with uow:
        return uow.clients.by_external_ref(NORDWERK) is not None


def load_demo(uow: UnitOfWork, actor: Actor, progress: Progress | None = None) -> DemoReport:
    """Load the demo workspace once; when it is already there, give its users fresh tokens instead."""
    require(actor, Perm.MANAGE_USERS)
    if is_loaded(uow):
        fresh = rotate_demo_tokens(uow, actor)
        return DemoReport(created=False, users=fresh, clients=_demo_clients(uow, actor),
                          invoices=_demo_invoices(uow, actor))
    real = uow.clock
    clock = _Timeline(real)
    uow.clock = clock
    try:
        return _Story(uow, actor, clock, real.today(), progress).run()
    finally:
        uow.clock = real


def rotate_demo_tokens(uow: UnitOfWork, actor: Actor) -> list[DemoUser]:
    out = []
    for _, role, _local in DEMO_USERS:
        email = DEMO_EMAILS[role]
        try:
            token = users.rotate_token(uow, actor, email)
        except NotFound:
            continue  # removed since: nothing to show
        with uow:
            row = uow.users.by_email(email)
            assert row is not None
            out.append(DemoUser(UserView.of(row), token))
    return out


def _demo_clients(uow: UnitOfWork, actor: Actor) -> list[ClientView]:
    out = []
    for ref in (NORDWERK, HARBOUR, VANDIJK):
        with uow:
            row = uow.clients.by_external_ref(ref)
            cid = row.id if row else None
        if cid is not None:
            out.append(clients_svc.get_client(uow, actor, cid))
    return out


def _demo_invoices(uow: UnitOfWork, actor: Actor) -> list[InvoiceView]:
    ids = {c.id for c in _demo_clients(uow, actor)}
    return [i for i in invoicing.list_invoices(uow, actor, limit=500) if i.client_id in ids]


class _Story:
    def __init__(self, uow: UnitOfWork, system: Actor, clock: _Timeline, today: date,
                 progress: Progress | None) -> None:
        self.uow, self.system, self.clock, self.today, self.progress = uow, system, clock, today, progress
        self.m0 = _month_start(today)
        self.m1 = _month_start(today, 1)
        self.m2 = _month_start(today, 2)
        self.ids: dict[str, int] = {}
        self.actors: dict[Role, Actor] = {}
        self.tokens: list[DemoUser] = []
        self.done = 0
        rng = random.Random(2026)
        yesterday = today - timedelta(days=1)
        self.entries = (_timesheets(rng, _workdays(self.m2, _month_end(self.m2)), only={HARBOUR})
                        + _timesheets(rng, _workdays(self.m1, _month_end(self.m1)))
                        + _timesheets(rng, _workdays(self.m0, yesterday)))
        self.total = len(self.entries) + 32

    def step(self, label: str) -> None:
        self.done += 1
        if self.progress:
            self.progress(label, min(self.done, self.total), self.total)

    def when(self, at: datetime) -> None:
        self.clock.set(max(self.clock.at, min(at, self.clock.real.now())))

    def run(self) -> DemoReport:
        uow = self.uow
        self.when(_at(self.m2, 8))
        self._people()
        self._clients()
        events: list[tuple[datetime, int, Callable[[], None]]] = []
        by_day: dict[date, list[_Entry]] = {}
        for e in self.entries:
            by_day.setdefault(e.day, []).append(e)
        for i, (day, entries) in enumerate(sorted(by_day.items())):
            events.append((_at(day, 18), i, partial(self._log_day, entries)))
        n = len(events)
        d1 = _first_workday(self.m1)
        d0 = _first_workday(self.m0)
        story: list[tuple[datetime, Callable[[], None]]] = [
            (_at(d1, 9, 15), lambda: self._invoice("overdue", HARBOUR, self.m2, Role.OWNER, approve=True)),
            (_at(self.m1 + timedelta(days=8), 11), self._expense),
            (_at(self.m1 + timedelta(days=11), 14), self._breach),
            (_at(self.m1 + timedelta(days=19), 16), self._milestone),
            (_at(d0, 9, 30), lambda: self._invoice("part_paid", NORDWERK, self.m1, Role.ACCOUNT_MANAGER,
                                                   approve=True)),
            (_at(d0, 9, 45), lambda: self._invoice("pending", VANDIJK, self.m1, Role.ACCOUNT_MANAGER)),
            (_at(d0, 11), lambda: self._invoice("draft", HARBOUR, self.m1, Role.OWNER, issue=False)),
            (_at(d0, 11, 30), self._seats_rise),
            (_at(d0, 11, 45), self._vandijk_ends),
            (_at(_first_workday(d0 + timedelta(days=6)), 10), self._payment),
        ]
        events += [(at, n + k, fn) for k, (at, fn) in enumerate(story)]
        for at, _, fn in sorted(events, key=lambda ev: (ev[0], ev[1])):
            self.when(at)
            fn()
        self.when(self.clock.real.now())
        if self.progress:
            self.progress("done", self.total, self.total)
        return DemoReport(created=True, users=self.tokens, clients=_demo_clients(uow, self.system),
                          invoices=_demo_invoices(uow, self.system), time_entries=len(self.entries))

    # -- set-up ---------------------------------------------------------------------------------------

    def _people(self) -> None:
        uow = self.uow
        workspace.update_settings(uow, self.system, {
            "name": COMPANY, "approval_thresholds": {"EUR": "60000.00", "GBP": "25000.00"}})
        parties.update_seller(uow, self.system, SELLER)
        self.step("workspace")
        for name, role, _ in DEMO_USERS:
            email = DEMO_EMAILS[role]
            with uow:
                exists = uow.users.by_email(email) is not None
            if exists:  # left over from an interrupted load: reuse it, with a fresh token
                token = users.rotate_token(uow, self.system, email)
                with uow:
                    row = uow.users.by_email(email)
                    assert row is not None
                    view = UserView.of(row)
            else:
                view, token = users.add_user(uow, self.system, users.UserIn(email=email, role=role, name=name))
            self.tokens.append(DemoUser(view, token))
            self.step(f"user {email}")
        for role in (Role.OWNER, Role.FINANCE, Role.CONTRACTOR):
            self.actors[role] = users.actor_by_email(uow, DEMO_EMAILS[role])

    def _clients(self) -> None:
        uow, owner = self.uow, self.actors[Role.OWNER]
        am_id = next(u.user.id for u in self.tokens if u.user.role == Role.ACCOUNT_MANAGER.value)
        m1, m2 = self.m1, self.m2

        nordwerk = clients_svc.create_client(uow, owner, clients_svc.ClientIn(
            name="Nordwerk Maschinenbau GmbH", currency="EUR", payment_terms_days=30, locale="de_DE",
            billing_emails=["rechnungen@nordwerk-maschinenbau.example"],
            tax_profile=TaxProfile.model_validate({"mode": "standard", "region": "DE", "rate": "19"}),
            po_required=True, po_number="4500183920", account_manager_ids=[am_id], external_ref=NORDWERK,
            address=PostalAddress(street="Industriestraße 14", postcode="73760", city="Ostfildern", country="DE"),
            vat_id="DE287654324", language=DocumentLanguage.DE, einvoice_format=EInvoiceFormat.FACTURX,
            electronic_address=ElectronicAddress(scheme="9930", identifier="DE287654324")))
        self.ids[NORDWERK] = nordwerk.id
        self.step("client Nordwerk Maschinenbau GmbH")
        retainer = self._arrangement(nordwerk.id, {
            "kind": "retainer", "name": "Managed IT services", "fee": "6500.00", "cycle": "monthly",
            "billing": "advance", "included_hours": "40", "starts_on": m1.isoformat()})
        self._arrangement(nordwerk.id, {
            "kind": "time_and_materials", "name": "Projects and extra support",
            "role_rates": {"Senior engineer": "145.00", "Engineer": "115.00", "Project manager": "125.00",
                           "Service desk": "85.00"},
            "person_rates": {"Marta Kowalski": "175.00"}, "default_rate": "115.00", "starts_on": m1.isoformat()})
        ms = self._arrangement_view(nordwerk.id, {
            "kind": "milestone", "name": "Network refresh Werk 2", "starts_on": m1.isoformat(),
            "milestones": [{"name": "Phase 1: assessment and design", "amount": "8000.00"},
                           {"name": "Phase 2: core switch replacement", "amount": "14500.00"},
                           {"name": "Phase 3: Wi-Fi rollout", "amount": "9800.00"}]})
        self.ids["milestone"] = ms.milestones[0].id
        self.ids["subscription"] = self._arrangement(nordwerk.id, {
            "kind": "subscription", "name": "Endpoint protection", "product": "Managed endpoint protection (EDR)",
            "seats": 48, "unit_price": "7.50", "cycle": "monthly", "starts_on": m1.isoformat()})
        self.ids["pass_through"] = self._arrangement(nordwerk.id, {
            "kind": "pass_through", "name": "Hardware at cost plus 12%", "markup_pct": "12",
            "starts_on": m1.isoformat()})
        self.ids["sla"] = self._arrangement(nordwerk.id, {
            "kind": "sla_credit", "name": "SLA: P1 response within 1 hour", "credit_pct": "10",
            "retainer_arrangement_id": retainer, "starts_on": m1.isoformat()})

        harbour = clients_svc.create_client(uow, owner, clients_svc.ClientIn(
            name="Harbour & Finch Ltd", currency="GBP", payment_terms_days=14, locale="en_GB",
            billing_emails=["accounts@harbourfinch.example"],
            # a German seller's services to a UK business are supplied where the buyer is: no German VAT, and the
            # buyer accounts for the UK VAT itself (reverse charge, VAT Act 1994 s. 8), so the invoice says so
            tax_profile=TaxProfile.model_validate({"mode": "reverse_charge", "region": "GB"}),
            external_ref=HARBOUR,
            address=PostalAddress(street="14 Wharf Road", postcode="N1 7GR", city="London", country="GB"),
            vat_id="GB294506104", language=DocumentLanguage.EN, einvoice_format=EInvoiceFormat.NONE))
        self.ids[HARBOUR] = harbour.id
        self.step("client Harbour & Finch Ltd")
        self._arrangement(harbour.id, {
            "kind": "retainer", "name": "Managed IT support", "fee": "2750.00", "cycle": "monthly",
            "billing": "advance", "included_hours": "10", "starts_on": m2.isoformat()})
        self._arrangement(harbour.id, {
            "kind": "time_and_materials", "name": "Additional support",
            "role_rates": {"Senior engineer": "120.00", "Engineer": "95.00", "Service desk": "65.00"},
            "default_rate": "95.00", "starts_on": m2.isoformat()})

        vandijk = clients_svc.create_client(uow, owner, clients_svc.ClientIn(
            name="Van Dijk Logistiek B.V.", currency="EUR", payment_terms_days=30, locale="nl_NL",
            billing_emails=["crediteuren@vandijk-logistiek.example"],
            tax_profile=TaxProfile.model_validate({"mode": "reverse_charge", "region": "NL"}),
            account_manager_ids=[am_id], external_ref=VANDIJK,
            address=PostalAddress(street="Celsiusweg 31", postcode="5928 PR", city="Venlo", country="NL"),
            vat_id="NL819203476B01", language=DocumentLanguage.NL, einvoice_format=EInvoiceFormat.PEPPOL,
            buyer_reference="VDL-IT-2026",  # the reference its Peppol invoices quote (BT-10, Peppol R003)
            electronic_address=ElectronicAddress(scheme="9944", identifier="NL819203476B01")))
        self.ids[VANDIJK] = vandijk.id
        self.step("client Van Dijk Logistiek B.V.")
        self.ids["vandijk_tm"] = self._arrangement(vandijk.id, {
            "kind": "time_and_materials", "name": "Azure migration (not to exceed 60,000.00)",
            "role_rates": {"Solution architect": "165.00", "Engineer": "110.00", "Project manager": "120.00"},
            "default_rate": "120.00", "cap": "60000.00", "starts_on": m1.isoformat()})
        self.actors[Role.ACCOUNT_MANAGER] = users.actor_by_email(uow, DEMO_EMAILS[Role.ACCOUNT_MANAGER])

    def _arrangement_view(self, client_id: int, terms: dict[str, Any]) -> ArrangementView:
        view = clients_svc.add_arrangement(self.uow, self.actors[Role.OWNER], client_id, terms)
        self.step(f"arrangement {view.name}")
        return view

    def _arrangement(self, client_id: int, terms: dict[str, Any]) -> int:
        return self._arrangement_view(client_id, terms).id

    # -- the work -------------------------------------------------------------------------------------

    def _log_day(self, entries: list[_Entry]) -> None:
        """A day's timesheets arrive together: one transaction, one `log_time` (and audit entry) each."""
        contractor = self.actors[Role.CONTRACTOR]
        sync = Actor.system("timesheet sync")
        with self.uow:
            for e in entries:
                work.log_time(self.uow, contractor if e.person == contractor.email else sync, work.TimeEntryIn(
                    client_id=self.ids[e.client], person=e.person, role=e.role, date=e.day, hours=str(e.hours),
                    description=e.description))
                self.step(f"time {e.day}")
            self.uow.commit()

    def _expense(self) -> None:
        work.record_expense(self.uow, self.actors[Role.ACCOUNT_MANAGER], work.ExpenseIn(
            client_id=self.ids[NORDWERK], arrangement_id=self.ids["pass_through"], date=self.clock.today(),
            description="2 × Cisco Catalyst 9200L-24P-4G switches for Werk 2", cost="3480.00"))
        self.step("expense")

    def _breach(self) -> None:
        work.record_breach(self.uow, self.actors[Role.ACCOUNT_MANAGER], work.BreachIn(
            client_id=self.ids[NORDWERK], arrangement_id=self.ids["sla"], occurred_on=self.clock.today(),
            description="P1 e-mail outage 07:40–13:15: first response after 1 h 35 min (target 1 h)"))
        self.step("SLA breach")

    def _milestone(self) -> None:
        work.complete_milestone(self.uow, self.actors[Role.ACCOUNT_MANAGER], self.ids["milestone"],
                                self.clock.today())
        self.step("milestone completed")

    # -- the invoices ---------------------------------------------------------------------------------

    def _invoice(self, key: str, client: str, month: date, drafter: Role, approve: bool = False,
                 issue: bool = True) -> None:
        uow, finance = self.uow, self.actors[Role.FINANCE]
        inv: InvoiceView = invoicing.draft_invoice(uow, self.actors[drafter], self.ids[client], month,
                                                   _month_end(month))
        self.ids[key] = inv.id
        self.step(f"draft {key}")
        if issue:
            inv = invoicing.issue_invoice(uow, finance, inv.id)  # a first invoice is always flagged
            if approve and inv.status == "pending_approval":
                self.clock.set(self.clock.now() + timedelta(minutes=20))
                invoicing.approve_invoice(uow, finance, inv.id, note="checked against the contract")
        self.step(f"invoice {key}")

    # -- contracts that change ----------------------------------------------------------------------------

    def _seats_rise(self) -> None:
        """Nordwerk took 4 more EDR seats from the 10th of last month, after last month was invoiced: the
        prorated difference waits for their next invoice (the issued one stays as it is)."""
        contracts.amend_arrangement(self.uow, self.actors[Role.FINANCE], self.ids[NORDWERK], self.ids["subscription"],
                                    {"effective_on": self.m1 + timedelta(days=9), "terms": {"seats": 52},
                                     "reason": "4 more laptops for the new Werk 2 shift"})
        self.step("seats rise")

    def _vandijk_ends(self) -> None:
        """Van Dijk's migration project ends with this month: its work up to then is billed, nothing after."""
        contracts.end_arrangement(self.uow, self.actors[Role.FINANCE], self.ids[VANDIJK], self.ids["vandijk_tm"],
                                  {"ends_on": _month_end(self.m0), "reason": "Azure migration completed"})
        self.step("Van Dijk T&M ends")

    def _payment(self) -> None:
        inv = invoicing.get_invoice(self.uow, self.actors[Role.FINANCE], self.ids["part_paid"])
        total = Decimal(inv.total)
        # a round payment on account, about half of it
        half = (total / 2).quantize(Decimal("1E3"), rounding=ROUND_DOWN) if total >= 2000 else \
            round_money(total / 2, inv.currency)
        invoicing.record_payment(self.uow, self.actors[Role.FINANCE], inv.id, format(half, "f"),
                                 self.clock.today(), reference="SEPA transfer, payment on account")
        self.step("payment")
