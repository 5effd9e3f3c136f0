"""Reading a request: what the person wants (the intent) and the details they gave, from free text.

`understand(text, today, clients)` is pure and deterministic: no network, no model weights. Details first
(invoice numbers, dates and periods, amounts, durations, reasons, roles), each found by a regex pre-filter and
masked out of the text; then the intent, from the words left (typos of those words corrected with rapidfuzz);
then the client, matched with rapidfuzz against the clients' names and the aliases derived from them (the name
without its legal form, the first word, the initials). Whatever the intent needs and the text does not say, or
says ambiguously, becomes `ask`: the one question to put to the person. Money-moving details are never guessed.

To add an intent: a cue in `_CUES` (where in the order says what wins), its slots in `SLOTS`, what it must
have in `_NEEDS`, and a plan in agent/_offline.py.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

import dateparser
from rapidfuzz import fuzz, process

# ---- what each intent uses, and what it cannot do without ----------------------------------------------------

SLOTS: dict[str, tuple[str, ...]] = {
    "status": ("client", "invoice", "period"),
    "overdue": ("client",),
    "list_invoices": ("client", "period"),
    "explain": ("client", "invoice", "period"),
    "history": ("client", "invoice", "period", "day"),
    "unbilled": ("client",),
    "approvals": ("client",),
    "draft": ("client", "period"),
    "issue": ("client", "invoice", "period"),
    "approve": ("client", "invoice", "period", "note"),
    "reject": ("client", "invoice", "period", "reason"),
    "void": ("client", "invoice", "period", "reason"),
    "credit": ("client", "invoice", "period", "amount", "currency", "reason"),
    "payment": ("client", "invoice", "period", "amount", "currency", "day", "reference"),
    "log_time": ("client", "hours", "day", "role", "description"),
    "milestone": ("client", "milestone"),
    "my_time": ("client", "period", "day"),
    "parked": (),
    "help": (),
    "send": ("client", "invoice", "period"),
    "einvoice_format": ("client",),
    "amend": ("client", "arrangement", "label", "change", "day", "reason"),
    "end_contract": ("client", "arrangement", "label", "day", "reason"),
    "contract": ("client", "arrangement", "label"),
    "proposals": ("client", "decision", "note", "reason", "label"),
}
# What must be known before acting, in the order it is asked for ("target": an invoice or a client).
_NEEDS: dict[str, tuple[str, ...]] = {
    "status": ("target",), "explain": ("target",), "issue": ("target",), "approve": ("target",),
    "send": ("target",), "reject": ("target", "reason"), "void": ("target", "reason"),
    "credit": ("target", "amount", "reason"), "payment": ("target", "amount"), "unbilled": ("client",),
    "draft": ("client", "period"), "log_time": ("client", "hours", "role"), "milestone": ("client", "milestone"),
    "einvoice_format": ("client",), "amend": ("client", "change", "day"), "end_contract": ("client", "day"),
    "contract": ("client",),
}
FREE_TEXT = frozenset({"reason", "note", "role", "description", "milestone", "reference"})


@dataclass(frozen=True)
class Understanding:
    """What a request means. `ask` names the one detail to ask for (None: enough to act on)."""

    intent: str | None
    client: str | None = None
    invoice: str | None = None        # "INV-2026-000042" | "seq:42" (its counter) | "id:5" (a draft's id)
    period: str | None = None         # "2026-10" | "2026-Q3"
    day: date | None = None
    amount: str | None = None         # a decimal string, or "full"
    currency: str | None = None
    hours: str | None = None
    reason: str | None = None
    note: str | None = None
    role: str | None = None
    description: str | None = None
    milestone: str | None = None
    reference: str | None = None
    arrangement: str | None = None    # the kind of contract meant: "subscription", "retainer", "time_and_materials"...
    label: str | None = None          # words naming it ("EDR"), or the arrangement's name once the person chose
    change: str | None = None         # "seats+4", "seats=52", "fee=5500", "fee+500", "role_rate:Engineer=150"...
    decision: str | None = None       # an amendment proposed for finance: "approve" | "reject" (None: list them)
    open_only: bool = False           # "who owes": every open balance, not only the overdue ones
    paying: bool = False              # a status question about payment: the invoice meant is an issued one
    client_text: str | None = None    # words that name a client the books do not know
    choices: tuple[str, ...] = ()     # clients that match equally well
    ask: str | None = None

    def details(self) -> dict[str, Any]:
        """The details the intent uses, as plain data (what the corpus compares)."""
        out: dict[str, Any] = {}
        for key in SLOTS.get(self.intent or "", ()):
            if key == "label":
                continue  # a hint for picking among the client's contracts, not a detail to score
            value = getattr(self, key)
            if value is not None:
                out[key] = value.isoformat() if isinstance(value, date) else value
        if self.ask:
            out["ask"] = self.ask
        return out

    def to_state(self) -> dict[str, Any]:
        d = asdict(self)
        d["day"] = self.day.isoformat() if self.day else None
        d["choices"] = list(self.choices)
        return d

    @classmethod
    def from_state(cls, d: dict[str, Any]) -> Understanding:
        d = dict(d)
        d["day"] = date.fromisoformat(d["day"]) if d.get("day") else None
        d["choices"] = tuple(d.get("choices") or ())
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


# ---- words -----------------------------------------------------------------------------------------------------

_MONTHS = {m.lower(): i for i, m in enumerate(calendar.month_name) if m}
_MONTH_ABBR = {m.lower(): i for i, m in enumerate(calendar.month_abbr) if m}
_MONTH_ABBR["sept"] = 9
_MONTH_WORDS = {**_MONTHS, **_MONTH_ABBR}
_WEEKDAYS = [d.lower() for d in calendar.day_name]
_NUMBER_WORDS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
                 "eight": 8, "nine": 9, "ten": 10}
_LEGAL = {"gmbh", "ltd", "ag", "bv", "b.v.", "b.v", "inc", "llc", "plc", "sa", "sas", "srl", "co", "kg", "limited",
          "corp", "corporation", "nv", "n.v.", "se", "oy", "ab", "as", "spa"}
_PARTICLES = {"van", "von", "de", "der", "den", "la", "le", "the", "di", "da", "du", "mc"}

def _words_of(text: str) -> frozenset[str]:
    return frozenset(text.split())


# The words of requests themselves, which never name a client. Typos of the longer ones are corrected.
_KEYWORDS = _words_of("""
status state balance paid pay pays paying settle settled settles damage owe owes owed outstanding unpaid overdue late
past due behind chase invoice invoices invoiced invoicing bill bills billed billing unbilled uninvoiced draft drafts
drafted issue issued finalise finalize finalised finalized official approve approved approval approvals pending
awaiting waiting sign off flagged review reject rejected decline declined void voided cancel cancelled canceled
scrap kill credit credited refund knock payment payments received receive got wired sent send resend email mail
record log logged logging put spent spend track book booked worked add hours hour hrs min mins minutes milestone
milestones complete completed done finished finish reached hit close tick phase my time timesheet timesheets entries
entry parked unmatched unapplied unallocated suspense match matched allocate stray unknown help commands usage
examples explain why breakdown break down reason increase higher lower change changed changes different expensive
jumped driving history audit trail timeline happened activity touched who when what list show all every
einvoice einvoices e-invoice e-invoices format formats xrechnung peppol facturx factur-x zugferd ubl receive
seat seats licence licences license licenses retainer retainers fee fees rate rates price markup quarterly monthly
yearly annually arrears advance contract contracts terms arrangement arrangements amend amended amendment
amendments terminate terminated subscription subscriptions versions version included raise lower bump increase
reduce drop dropping switch end ends ending stop stops leaving renew wrap close cancels hourly support
proposal proposals proposed account accounts manager managers
""")
_STOP = _words_of("""
a an the and or of on for to from in at by with about as is are was were be been being it its it's this that these
those there their they them we us our i me my you your u ur he she his her can could would should will shall may
might must do does did doing done have has had having any anything something everything some please pls plz thanks
thx ok okay yes yep yeah no nope not dont don't isnt isn't hasnt hasn't havent haven't cant can't couldnt couldn't
wont won't lets let's just also too still yet again now today yesterday tomorrow week month year last this next
previous ago since how much many more most less what which who whom whose when where why out up over into off back
here go ahead get got give make made need needs want like look looking looks know news check one ones thing stuff
hey hi hello good great cool lol sure right then than so very really about around per via new old full amount
partial part same due out mark marked as via is be gone went go came come money contact contacts
""")
_VOCAB = frozenset(_KEYWORDS) | frozenset(_STOP) | frozenset(_MONTH_WORDS) | frozenset(_WEEKDAYS)
_FIX_TARGETS = sorted({w for w in _KEYWORDS if len(w) >= 5})


@lru_cache(maxsize=4096)
def _fix_word(word: str) -> str:
    """A typo of a request word ("rejct", "approvel") -> the word; anything else unchanged."""
    if len(word) < 5 or word in _VOCAB or not word.isalpha():
        return word
    hit = process.extractOne(word, _FIX_TARGETS, scorer=fuzz.ratio, score_cutoff=85)
    return str(hit[0]) if hit else word


# ---- details ---------------------------------------------------------------------------------------------------

_FULL_NUMBER = re.compile(r"\b([a-z]{2,5})[-/ ](\d{4})[-/ ](\d{3,8})\b", re.I)
_DRAFT_ID = re.compile(r"\bdraft\s*(?:#|no\.?\s*|number\s*|id\s*)?(\d{1,7})\b", re.I)
_SEQ = re.compile(r"(?:\b(?:inv(?:oice)?s?|no\.?|number|bill)\s*#?\s*|#\s*)(\d{1,8})\b(?![.,]\d)(?!\s*(?:h|hrs?|hours?|"
                  r"m|mins?|minutes?|k|eur|gbp|usd|%)\b)", re.I)
_ZERO_PADDED = re.compile(r"(?<![\d.,])\b(0\d{2,7})\b(?![.,]\d)")
_BARE = re.compile(r"^\s*(\d{1,7})\b(?![.,]\d)(?!\s*(?:h|hrs?|hours?|m|mins?|minutes?|k|eur|gbp|usd|%|st|nd|rd|th)\b)")

_CURRENCY_SIGNS = {"€": "EUR", "£": "GBP", "$": "USD"}
_AMOUNT = re.compile(
    r"(?P<pre>[€£$]|\b(?:eur|gbp|usd|chf)\b)?\s*"
    r"(?P<num>\d{1,3}(?:[.,' ]\d{3})+(?:[.,]\d{1,2})?|\d+(?:[.,]\d{1,2})?)"
    r"(?P<k>\s?k\b)?(?:\s*(?P<post>[€£$]|\b(?:eur|gbp|usd|chf)\b|euros?\b|pounds?\b|quid\b))?", re.I)
_FULL = re.compile(r"\b(?:in\s+full|(?:the\s+)?full\s+(?:amount|balance)|everything\s+(?:owed|open)|"
                   r"(?:mark(?:ed)?|set)\b.*\b(?:as\s+)?paid|all\s+of\s+it|the\s+(?:whole|full)\s+(?:amount|thing|balance))\b",
                   re.I)

_DURATION = re.compile(
    r"\b(?P<h>\d+(?:[.,]\d+)?)\s*(?:h|hrs?|hours?)(?:\b|(?=\d))(?:\s*(?:and\s*)?(?P<hm>\d{1,2})\s*(?:m|mins?|minutes?)?\b)?"
    r"|\b(?P<m>\d+)\s*(?:m|mins?|minutes?)\b"
    r"|\b(?P<half>half\s+an?\s+hour)\b|\b(?P<an>an?\s+hour)(?:\s+and\s+a\s+half)?\b", re.I)

_PERIOD_WORDS = "|".join(sorted(_MONTH_WORDS, key=len, reverse=True))
_PERIOD = re.compile(
    r"\b(?P<rel>this|last|previous|prev|past)\s+month\b"
    r"|\bq(?P<q>[1-4])(?:\s*/?\s*(?P<qy>\d{4}))?\b"
    r"|\b(?P<ym>\d{4})-(?P<mm>\d{1,2})\b(?!-\d)"
    rf"|\b(?P<mon>{_PERIOD_WORDS})\.?(?:\s+(?P<my>\d{{4}}))?\b", re.I)
_DAY = re.compile(
    r"\b(?P<iso>\d{4}-\d{2}-\d{2})\b"
    r"|\b(?P<word>yesterday|today|tonight|this morning|this afternoon)\b"
    r"|\b(?P<ago>(?:\d+|a|an|one|two|three|four|five|six|seven|eight|nine|ten)\s+(?:days?|weeks?)\s+ago)\b"
    rf"|\b(?P<wd>(?:last\s+|on\s+|since\s+|this\s+past\s+)?(?:{'|'.join(_WEEKDAYS)}))\b"
    r"|\b(?:on\s+)?the\s+(?P<nth>\d{1,2})(?:st|nd|rd|th)\b"
    rf"|\b(?P<dm>\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?(?:{_PERIOD_WORDS})\.?(?:\s+\d{{4}})?)\b"
    rf"|\b(?P<md>(?:{_PERIOD_WORDS})\.?\s+\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s+\d{{4}})?)\b(?!\s*(?:h|hrs?|hours?|m|min))",
    re.I)
# Some month names are everyday words: only a period when the context says so.
_AMBIGUOUS_MONTHS = {"may", "march", "mar", "jan", "sun", "dec", "oct", "aug", "jun", "jul", "sep", "nov", "feb",
                     "apr"}
_MONTH_CONTEXT = re.compile(r"(?:\b(?:for|in|of|on|from|since|during|until|the|his|her|their|'s|s|last|this|"
                            r"bill|invoice|draft)\s+$)|^$", re.I)


def _mask(text: str, start: int, end: int) -> str:
    return text[:start] + " " * (end - start) + text[end:]


def parse_amount(num: str) -> Decimal | None:
    """'2,750' -> 2750; '1.250,50' -> 1250.50; '2.500,00' -> 2500.00; '120.50' -> 120.50; '999.99' -> 999.99."""
    s = num.replace("'", "").replace(" ", "")
    if "," in s and "." in s:
        dec = "," if s.rfind(",") > s.rfind(".") else "."
        s = s.replace("." if dec == "," else ",", "").replace(dec, ".")
    elif "," in s or "." in s:
        sep = "," if "," in s else "."
        parts = s.split(sep)
        grouping = len(parts) > 2 or len(parts[-1]) == 3  # 2,750 / 1.250.000
        s = "".join(parts) if grouping else s.replace(",", ".")
    try:
        return Decimal(s)
    except InvalidOperation:
        return None


def _plain(d: Decimal) -> str:
    """A decimal as people write it, without exponent: 1.50 stays 1.50, 1E+3 becomes 1000."""
    return format(d, "f")


def parse_duration(text: str) -> tuple[Decimal, int, int] | None:
    """'90 min' -> 1.5; '1h30' -> 1.5; '2.5 hours' -> 2.5; '1h 15m' -> 1.25: (hours, start, end)."""
    m = _DURATION.search(text)
    if not m:
        return None
    if m["h"]:
        hours = parse_amount(m["h"]) or Decimal(0)
        if m["hm"]:
            hours += Decimal(int(m["hm"])) / 60
    elif m["m"]:
        hours = Decimal(int(m["m"])) / 60
    elif m["half"]:
        hours = Decimal("0.5")
    else:
        hours = Decimal("1.5") if "half" in m[0].lower() else Decimal(1)
    hours = hours.quantize(Decimal("0.01")).normalize()
    return (hours if hours > 0 else Decimal(0)), m.start(), m.end()


def month_of(text: str, today: date) -> str | None:
    """A month or quarter as people name it, the most recent that began: 'october' -> '2026-10' in Nov 2026,
    'December' -> '2025-12', 'last month', 'Q3' -> '2026-Q3', '2026-03'."""
    m = _PERIOD.search(text)
    if not m:
        return _fuzzy_month(text, today)
    return _period(m, today)


def _period(m: re.Match[str], today: date) -> str | None:
    if m["rel"]:
        if m["rel"].lower() == "this":
            return f"{today:%Y-%m}"
        return f"{today.replace(day=1) - timedelta(days=1):%Y-%m}"
    if m["q"]:
        q = int(m["q"])
        year = int(m["qy"]) if m["qy"] else (today.year if (q - 1) * 3 + 1 <= today.month else today.year - 1)
        return f"{year}-Q{q}"
    if m["ym"]:
        month = int(m["mm"])
        return f"{int(m['ym'])}-{month:02d}" if 1 <= month <= 12 else None
    month = _MONTH_WORDS[m["mon"].lower()]
    year = int(m["my"]) if m["my"] else (today.year if month <= today.month else today.year - 1)
    return f"{year}-{month:02d}"


def _fuzzy_month(text: str, today: date) -> str | None:
    """'oktober', 'febuary', 'septmber': a month name with a typo, in a period's place."""
    for word in re.findall(r"[a-z]{5,}", text.lower()):
        if word in _VOCAB:
            continue
        hit = process.extractOne(word, list(_MONTHS), scorer=fuzz.ratio, score_cutoff=80)
        if hit:
            month = _MONTHS[hit[0]]
            return f"{today.year if month <= today.month else today.year - 1}-{month:02d}"
    return None


@lru_cache(maxsize=2048)
def _dateparser(phrase: str, today: date) -> date | None:
    """dateparser on a phrase the regexes found (it is slow on whole sentences, so it only sees the phrase)."""
    base = datetime(today.year, today.month, today.day, 12, 0)
    got = dateparser.parse(phrase, languages=["en"], settings={
        "RELATIVE_BASE": base, "PREFER_DATES_FROM": "past", "RETURN_AS_TIMEZONE_AWARE": False,
        "PREFER_DAY_OF_MONTH": "first"})
    return got.date() if got else None


def day_of(m: re.Match[str], today: date) -> date | None:
    if m["iso"]:
        try:
            return date.fromisoformat(m["iso"])
        except ValueError:
            return None
    if m["word"]:
        return today - timedelta(days=1) if m["word"].lower() == "yesterday" else today
    if m["nth"]:
        n = int(m["nth"])
        if not 1 <= n <= 31:
            return None
        year, month = today.year, today.month
        if n > today.day:  # "the 28th" on the 18th: last month's
            last = today.replace(day=1) - timedelta(days=1)
            year, month = last.year, last.month
        return date(year, month, min(n, calendar.monthrange(year, month)[1]))
    if m["wd"]:
        name = m["wd"].lower().split()[-1]
        back = (today.weekday() - _WEEKDAYS.index(name)) % 7 or 7  # the last one before today
        return today - timedelta(days=back)
    phrase = re.sub(r"\b(an?)\b", "1", (m["ago"] or m["dm"] or m["md"] or "").lower())
    for word, n in _NUMBER_WORDS.items():
        phrase = re.sub(rf"\b{word}\b", str(n), phrase)
    return _dateparser(re.sub(r"(\d)(st|nd|rd|th)\b", r"\1", phrase), today)


# ---- clients ---------------------------------------------------------------------------------------------------

def _words(name: str) -> list[str]:
    return [w for w in re.split(r"[\s,]+", name.lower().replace("&", " & ")) if w]


@lru_cache(maxsize=64)
def aliases(names: tuple[str, ...]) -> dict[str, frozenset[str]]:
    """Each client's name and the shorter names people use for it -> the clients they can mean."""
    out: dict[str, set[str]] = {}

    def add(alias: str, name: str) -> None:
        alias = re.sub(r"\s+", " ", alias).strip()
        if alias:
            out.setdefault(alias, set()).add(name)

    for name in names:
        words = _words(name)
        core = [w for w in words if w.strip(".") not in {x.strip(".") for x in _LEGAL}] or words
        add(" ".join(words), name)
        add(" ".join(core), name)
        add(" ".join(core).replace(" & ", " and "), name)
        add(" ".join(w for w in core if w != "&"), name)
        first = core[0] if core[0] not in _PARTICLES or len(core) < 2 else " ".join(core[:2])
        if len(first) >= 3:
            add(first, name)
            add(first.replace(" ", ""), name)
        letters = [w[0] for w in core if w != "&" and w[0].isalpha()]
        if len(letters) >= 2:
            add("".join(letters), name)
            if "&" in core:
                add("&".join(letters), name)
    return {k: frozenset(v) for k, v in out.items()}


@dataclass
class _ClientHit:
    names: frozenset[str]
    score: float
    start: int
    end: int


def _tokens(text: str) -> list[tuple[str, int, int]]:
    """Words with their places; possessives and plural-possessives cut ("harbour's", "nordwerks'")."""
    out = []
    for m in re.finditer(r"[a-z0-9][a-z0-9&.\-]*(?:'s|’s|')?", text.lower()):
        word = re.sub(r"(?:'s|’s|')$", "", m[0]).rstrip(".-")
        if word:
            out.append((word, m.start(), m.end()))
    return out


def find_client(text: str, names: Sequence[str]) -> _ClientHit | None:
    """The best fuzzy match of any run of 1-4 words against the names and aliases (rapidfuzz ratio)."""
    table = aliases(tuple(names))
    keys = list(table)
    toks = _tokens(text)
    best: _ClientHit | None = None
    for i in range(len(toks)):
        for n in range(1, 5):
            if i + n > len(toks):
                break
            words = [t[0] for t in toks[i:i + n]]
            if n == 1 and (words[0] in _VOCAB or words[0].isdigit()):
                continue
            if words[0] in _STOP or words[-1] in _STOP:
                continue
            gram = " ".join(words)
            cutoff = 100 if len(gram) <= 3 else (88 if len(gram) <= 5 else 75)
            hit = process.extractOne(gram, keys, scorer=fuzz.ratio, score_cutoff=cutoff)
            if hit is None and n == 1 and gram.endswith("s") and len(gram) > 4:
                hit = process.extractOne(gram[:-1], keys, scorer=fuzz.ratio, score_cutoff=cutoff)
            if hit is None:
                continue
            score = float(hit[1]) + n * 0.5  # the longer of two equal matches is the more specific
            names_hit = table[str(hit[0])]
            if best is None or score > best.score:
                best = _ClientHit(names_hit, score, toks[i][1], toks[i + n - 1][2])
    return best


# Where an unknown name sits: after a verb that takes a client, a preposition, or before "invoice"/"'s".
_SLOT_BEFORE = re.compile(r"(?:\b(?:draft|invoice|bill|for|on|from|to|at|with|of|about|paid by|owe|did|does|has|is|was|"
                          r"credit|refund|void|cancel|approve|reject|issue|send|email|chase)"
                          r"\s+(?:the\s+)?$)",
                          re.I)
_SLOT_AFTER = re.compile(r"^(?:'s|’s|s'|\s+(?:invoice|bill|draft|one|ltd|inc|gmbh|ag|corp|corporation|enterprises|"
                         r"group|paid|owes?))\b", re.I)


def unknown_client(text: str) -> tuple[str, int, int] | None:
    """Words in a client's place that are no request word: a client the books do not know ("Umbrella")."""
    toks = _tokens(text)
    i = 0
    while i < len(toks):
        word, start, _ = toks[i]
        if word in _VOCAB or not re.match(r"[a-z]", word) or _fix_word(word) in _VOCAB:
            i += 1
            continue
        j = i
        while j + 1 < len(toks) and toks[j + 1][0] not in _VOCAB and re.match(r"[a-z]", toks[j + 1][0]) \
                and j + 1 - i < 3:
            j += 1
        end = toks[j][2]
        capitalised = i > 0 and text[start:start + 1].isupper()  # "why did Globex go up?": a name
        if capitalised or _SLOT_BEFORE.search(text[:start]) or _SLOT_AFTER.match(text[end:]) or _SLOT_AFTER.match(
                text[toks[j][1] + len(toks[j][0]):]):
            return text[start:end].strip().rstrip("'’s").strip(), start, end
        i = j + 1
    return None


# ---- the intent ------------------------------------------------------------------------------------------------

# (intent, cue) in order: the first cue found wins. Cues read the text with the details masked out and typos of
# request words fixed, followed by flags for what was found: __TARGET__ (an invoice or a client), __HOURS__,
# __AMOUNT__. Intent None: nothing the books can do.
_CUES: list[tuple[str | None, re.Pattern[str]]] = [(i, re.compile(p, re.I)) for i, p in [
    (None, r"\b(?:write|tell|sing|compose)\b.*\b(?:poem|joke|song|story|haiku)\b|\bweather\b|\breset\s+my\s+password\b"
           r"|\bmeeting\s+room\b|\btranslate\b|\bmeaning\s+of\s+life\b|\bwho\s+won\b"),
    ("help", r"^\s*(?:help(?:\s+me)?|\?+|commands|list\s+commands|usage|examples|hi|hey|hello|yo|"
             r"what\s+(?:can|do|does)\s+(?:you|u|i|it|this(?:\s+\w+)?)\s+(?:do|ask(?:\s+you)?|understand)"
             r"(?:\s+here)?|"
             r"what\s+are\s+my\s+options|how\s+(?:does\s+(?:this|it)\s+work|do\s+i\s+use\s+(?:this|it))|"
             r"hello,?\s+what\s+do\s+you\s+do)(?:\s*,?\s*(?:pls|please|plz|thanks|thx))?\s*[?!.]*\s*(?:__\w+__\s*)*$"),
    ("my_time", r"\bmy\s+(?:\w+\s+)?(?:time|hours|timesheets?|entries|logged\s+hours)\b"
                r"|\bwhat\s+did\s+i\s+(?:log|book)\b|\b(?:have|did)\s+i\s+(?:logged|booked|log|book|put\s+in)\b"
                r"|\bi\s+logged\b|\bwhat\s+time\s+did\s+i\b|\bwhat\s+i\s+worked\s+on\b"
                r"|\bhow\s+(?:much|many)\s+(?:time|hours)\s+have\s+i\b"),
    ("parked", r"\b(?:parked|unmatched|unapplied|unallocated|suspense|stray\s+payments?|unknown\s+payments?)\b"
               r"|\b(?:could\s*n.?t|can.?t|cannot|nobody|fail(?:ed)?\s+to)\s+(?:match|place|allocate|matched)\b"
               r"|\bpayments?\s+(?:without\s+an?\s+invoice|waiting\s+to\s+be\s+matched)\b"),
    ("einvoice_format", r"\be-?invoic\w*\s+format\b|\bformat\b.*\b(?:receive|get|use|need|want)s?\b"
                        r"|\bkind\s+of\s+e-?invoice\b|\b(?:xrechnung|peppol|factur-?x|zugferd|ubl)\b"
                        r"|\be-?invoices?\b.*\b(?:does|do|will)\b.*\b(?:get|receive|use|need)\b"),
    ("contract", r"\bwhen\s+did\b.*\b(?:seats?|licen[cs]es|rates?|fee|retainer|price|terms|contract)\b"
                 r"|\bcontract\s+history\b|\b(?:history|versions?)\s+of\s+(?:the\s+)?(?:\w+\s+)?(?:contract|terms"
                 r"|retainer|t\s*&\s*m|subscription)\b"),
    ("proposals", r"\bproposals?\b|\bproposed\b.*\b(?:amendments?|changes?|rates?|retainer|contract|terms)\b"
                  r"|\b(?:amendments?|contract\s+changes?)\b.*\b(?:pending|waiting|approv\w*|need\w*\s+my\s+ok"
                  r"|sign\s*off)\b|\b(?:pending|waiting|approve|reject|decline|sign\s*off|lgtm|turn\s+down"
                  r"|don.?t\s+approve|ok)\b.*\b(?:amendments?|contract\s+changes?|on\s+contracts)\b"),
    ("history", r"\bwho\s+(?:approved|touched|drafted|voided|issued|sent|changed|credited|rejected|did|cancelled"
                r"|created|made|raised|added|edited|paid)\b"
                r"|\bwhen\s+(?:did|was|were)\b|\bhistory\b|\baudit\b|\btimeline\b|\bwhat\s+happened\b|\bactivity\b"
                r"|\bgoing\s+on\s+with\b|^\s*changes\b|\btrail\b"),
    ("status", r"^\W*(?:is|has|have|was|were|did)\s+(?:\w+\s+){0,5}?(?:been\s+)?(?:approved|issued|sent|paid|voided"
               r"|cancelled|credited|rejected|drafted|finali[sz]ed|send|issue|approve|void|bill|invoice)\b|\bwhen\s+is\b.*\bdue\b"),
    ("unbilled", r"\bunbilled\b|\buninvoiced\b|\bnot\s+(?:yet\s+)?(?:been\s+)?(?:billed|invoiced)\b"
                 r"|\bhave\s*n.?t\s+(?:we\s+)?(?:yet\s+)?(?:been\s+)?(?:billed|invoiced)\b"
                 r"|\bhavent\s+(?:been\s+)?(?:billed|invoiced)\b"
                 r"|\bwork\s+in\s+progress\b|\bwip\b|\b(?:left|still)\s+to\s+bill\b|\bcan\s+we\s+still\s+bill\b"
                 r"|\bforgot\s+to\s+bill\b"),
    ("credit", r"\bcredit(?:ed)?\b|\brefund\b|\bknock\b.*\boff\b"),
    ("reject", r"\breject(?:ed)?\b|\bdecline\b|\bsend\b.*\bback\b|\bkick\s*back\b|\bdon.?t\s+approve\b"),
    ("end_contract", r"^(?!.*__INVOICE__)(?!.*\bmilestones?\b)(?:.*\b(?:end|ends|ending|terminate|terminating|cancel"
                     r"|cancels|cancell?ing|stop|stopping|kill|close"
                     r"(?:\s+out)?|wrap\s+up|wind\s+down|discontinue)\b(?!\s+of\b).*\b(?:contract|contracts|retainer"
                     r"|t\s*&\s*m|tm|time\s+and\s+materials|subscription|seats|licen[cs]es|arrangement|agreement|support"
                     r"|engagement|project\s+work|endpoint\s+protection|edr|everything|it)\b"
                     r"|.*\b(?:contract|retainer|t\s*&\s*m|subscription)\b.*\b(?:ends|should\s+(?:end|stop)|stops"
                     r"|terminates)\b(?!\s+of\b)|.*\bstop\s+billing\b|.*\blast\s+day\s+(?:for|of)\b"
                     r"|.*\bwo\s*n.?t\s+renew\b|.*\bwont\s+renew\b)"),
    ("amend", r"^(?!.*\b(?:why|explain|how\s+come)\b)(?:"
              r".*\b(?:add|adds|adding|another|extra|additional|more|fewer|remove|drop|dropping|minus|take)\b.*"
              r"\b(?:seats?|licen[cs]es?)\b|.*\b\d+\s+(?:more|extra|additional|fewer|less)\b"
              r"|.*\b(?:seats?|licen[cs]es?)\s+(?:to|down\s+to|up\s+to)\b|.*\bdown\s+to\s+\d+\s+(?:\w+\s+)?seats\b"
              r"|.*\b(?:raise|raising|increase|increasing|bump|lower|lowering|reduce|cut|change|amend|update|switch"
              r"|move|set)\b.*\b(?:retainer|fee|rate|rates|price|markup|cap|seats?|licen[cs]es?|cycle|quarterly"
              r"|monthly|yearly|annually|arrears|advance|included\s+hours|t\s*&\s*m|contract|terms)\b"
              r"|.*\b(?:retainer|fee|rate|price(?:\s+per\s+seat)?|markup|cap|included\s+hours)\b.*\b(?:goes|go|going"
              r"|is|are|now|becomes?|up|down)\b[^_]*(?:\bto\b|\bby\b|\d)"
              r"|.*\bnew\s+rate\b|.*\d\s*/\s*h\b|.*\bper\s+seat\b|.*\brate\s+\d)"),
    ("contract", r"^(?!.*\b(?:why|explain|how\s+come|invoices?|bills?)\b)(?!.*__INVOICE__)"
                 r"(?:.*\b(?:contract|contracts|arrangements?|amendments|versions?"
                 r"|terms)\b|.*\bhow\s+many\s+(?:\w+\s+)?(?:seats|licen[cs]es)\b|.*\b(?:seats|licen[cs]es)\s+(?:for|of|at)\b"
                 r"|.*\b(?:what|whats|which|show|list)\b.*\b(?:rates?|fee|retainer|seats|markup|cap|cycle)\b(?!.*\binvoice)"
                 r"|.*\bwhat\s+changed\s+(?:in|on|with)\b.*\b(?:retainer|contract|terms|rates?|fee|seats|subscription"
                 r"|t\s*&\s*m)\b)"),
    ("void", r"\bvoid\b|\bcancel\b|\bscrap\b|\bkill\b"),
    ("payment", r"\b(?:record|log|add|enter)\s+(?:a\s+|the\s+)?payment\b|\bpayment\s+(?:of|in|received|for)\b"
                r"|\bmark(?:ed)?\b.*\b(?:as\s+)?paid\b|^(?!.*\b(?:did|has|have|is|was)\b).*\bpaid\b.*\bin\s+full\b"
                r"|^(?!\s*(?:did|has|have|is|was)\b)(?=.*__AMOUNT__)(?=.*\b(?:paid|received|got|wired|sent|transferred|record|booked"
                r"|payment|came\s+in)\b)|\bgot\s+paid\b"),
    ("milestone", r"\bmilestones?\b|\bphase\s+\d+\b.*\b(?:done|complete|completed|finished|reached)\b"
                  r"|\btick\s+off\b"),
    ("log_time", r"__HOURS__|\blog\s+(?:some\s+)?time\b"),
    ("approvals", r"^(?!.*__INVOICE__).*\b(?:pending|awaiting|waiting\s+for|needs?)\s+"
                  r"(?:an?\s+|your\s+|my\s+)?approval\b"
                  r"|^(?!.*__TARGET__)(?:.*\b(?:anything|what|whats|any|list|show|which|have|is\s+there|need|needs)\b"
                  r".*\b(?:approv\w*|sign\s*off|signoff|my\s+ok|review)\b|.*\bapprovals\b|.*\bpending\b|.*\bfor\s+approval\b"
                  r"|.*\bflagged\b|.*\bawaiting\b|\s*to\s+approve\b)"),
    ("approve", r"\bapprove[ds]?\b|\bsign\s*off\b|\blgtm\b"),
    ("list_invoices", r"^\s*(?:which|what)\s+invoices\b"),
    ("explain", r"\bwhy\b|\bexplain\b|\bbreak\s*down\b|\bhow\s+come\b|\bwhat\s+changed\b|\bdriving\b|\breason\s+for\b"
                r"|\bso\s+(?:expensive|high)\b|\bwhat.?s\s+on\b"),
    ("issue", r"\bissue\b|\bfinali[sz]e\b|\bofficial\b|\brelease\b"),
    ("send", r"\b(?:re)?send\b|\be-?mail\b|\bmail\b"),
    ("status", r"\bowe\b.*\bon\s+(?:their|the)\b.*\binvoice\b"),
    ("overdue", r"\boverdue\b|\blate\b|\bpast\s+(?:their\s+)?due\b|\bowes?\b|\bowed\b|\boutstanding\b|\bunpaid\b"
                r"|\bhas\s*n.?t\s+paid\b|\bhasnt\s+paid\b|\bbehind\s+on\b|\bchase\b|\bstill\s+out\s+there\b"),
    ("status", r"\bstatus\b|\bstate\b|\bpaid\b|\bpay\b|\bsettle[ds]?\b|\bbalance\b|\bdamage\b|\bwhere\b"
               r"|\bhow.?s\b|\bcheck\b|\bknow\s+about\b|\bnews\b"),
    ("list_invoices", r"\binvoices\b|\bbills\b|\binvoice\s+list\b"
                      r"|\bwhat\s+(?:did|have)\s+we\s+(?:bill|billed|invoice|invoiced)\b"
                      r"|\b(?:show|list|every|all)\b.*\b(?:invoice|bill)\b"),
    ("draft", r"\bdraft\b|\bbill\b|\binvoice\b|\braise\b|\bprepare\b"),
    ("status", r"__TARGET__"),
]]
_OPEN_WORDS = re.compile(r"\bowes?\b|\bowed\b|\boutstanding\b|\bunpaid\b|\bstill\s+out\b|\bhas\s*n.?t\s+paid\b", re.I)
_LATE_WORDS = re.compile(r"\boverdue\b|\blate\b|\bpast\s+due\b|\bbehind\b|\bchase\b", re.I)


def _intent(text: str, flags: set[str]) -> str | None:
    t = _fix_typos(text) + " " + " ".join(sorted(flags))
    for intent, cue in _CUES:
        if cue.search(t):
            return intent
    return None


def _cue(intent: str) -> re.Pattern[str]:
    return next(c for i, c in _CUES if i == intent)


# ---- free texts: reasons, notes, roles, descriptions -----------------------------------------------------------

_FILLERS = frozenset({"pls", "please", "plz", "thanks", "thx", "ta", "asap", "now", "again", "too"})
_SEPARATORS = re.compile(r"\s*(?:[,;:]|\s[-–—]+\s|\s[-–—]+$|--)\s*")
_BECAUSE = re.compile(r"\b(?:because|cause|cos|coz|bc|due\s+to|reason:?|as\s+(?=(?:it|the|they|we|this|that|there|our|"
                      r"their|i|he|she|its)\b))\s*(?P<r>.+)$", re.I)
_ROLE = re.compile(r"\bas\s+(?:an?\s+|the\s+|our\s+)?"
                   r"(?P<role>(?!paid\b|a\s+credit|it\b|the\b|they\b|we\b|this\b|that\b)"
                   r"[a-z][a-z ]*?[a-z])(?=\s*(?:[,:;]|\s[-–—]|$|\s+(?:on|for|today|yesterday|at|to|last|this|in)\b))",
                   re.I)
# Words that only point at the thing acted on: they are never a reason or a note on their own.
_DETAIL_WORDS = _words_of("""the a an on for of to in it invoice invoices bill one draft from full amount and partial
credit note i we can you u pls please plz thanks thx this that their our is all every""")


def _tidy(text: str) -> str:
    text = re.sub(r"\s+", " ", text).strip(" \t,;:-–—.!?")
    text = re.sub(r"(?:[\s,]+(?:pls|please|plz|thanks|thx|ta))+$", "", text, flags=re.I)
    text = re.sub(r"^(?:(?:pls|please|plz)\s+)+", "", text, flags=re.I)
    return text.strip(" ,;:-–—.!?")


def _meaningful(masked_segment: str) -> bool:
    """A segment holds words of its own (not only masked details, fillers and pointing words)."""
    return any(w not in _DETAIL_WORDS and w not in _FILLERS
               for w in re.findall(r"[a-z0-9']+", masked_segment.lower()))


def _after_action(original: str, masked: str, verbs: re.Pattern[str], tail: bool = True) -> str | None:
    """What follows the action: a reason or a note after "because", after a comma, a colon or a dash, or the
    words left after the thing acted on ("reject #7 wrong client")."""
    m = _BECAUSE.search(original)
    if m:
        return _tidy(m["r"]) or None
    last = None
    for v in verbs.finditer(_fix_typos(masked)):
        last = v
    start = last.end() if last else 0
    parts = _SEPARATORS.split(original[start:])
    mparts = _SEPARATORS.split(masked[start:])
    if len(parts) == len(mparts) and len(parts) > 1:
        for seg, mseg in zip(reversed(parts[1:]), reversed(mparts[1:]), strict=True):
            if _meaningful(mseg):
                return _tidy(seg) or None
        return None
    if not tail:
        return None
    # No separator: the first word of its own after the details, and what follows ("void #3 dup"); "for" and
    # an article just before it belong to it ("for the delay" -> "the delay").
    words = list(re.finditer(r"\S+", masked[start:]))
    for k, w in enumerate(words):
        if _meaningful(w[0]):
            begin = w.start()
            if k > 0 and words[k - 1][0].lower() in ("the", "a", "an"):
                begin = words[k - 1].start()
            rest = original[start + begin:]
            return _tidy(rest) or None if len(rest.split()) <= 12 else None
    return None


def _work(original: str, masked: str) -> dict[str, Any]:
    """A time entry's role ("as Engineer") and what was done (after a colon, comma or dash; after "for" or
    "on"; or the words left over: "harbour printer fix")."""
    out: dict[str, Any] = {}
    head = _SEPARATORS.split(masked)[0]  # a bare role word counts only before the description
    role_match = _ROLE.search(masked) or _KNOWN_ROLE.search(masked, 0, len(head))
    if role_match:
        role = _ROLE_STOP.sub("", role_match["role"]).strip()
        out["role"] = role[:1].upper() + role[1:].lower()
        masked = _mask(masked, role_match.start(), role_match.end())
    parts = _SEPARATORS.split(original)
    mparts = _SEPARATORS.split(masked)
    if len(parts) == len(mparts) and len(parts) > 1:
        for seg, mseg in zip(parts[1:], mparts[1:], strict=True):
            if _meaningful(mseg):
                out["description"] = _tidy(seg)
                return out
    m = re.search(r".*\b(?:for|on|doing|re:?)\s+(?P<d>(?:the\s+|a\s+)?[a-z][\w\-/ .]*?)\s*$", masked, re.I)
    if m and _meaningful(m["d"]) and m["d"].split()[-1].lower() not in _VOCAB - _KEYWORD_NOUNS:
        out["description"] = _tidy(masked[m.start("d"):m.end("d")])  # without the client's name
        return out
    left = [(w.start(), w.end()) for w in re.finditer(r"[A-Za-z][\w\-/]*", masked) if w[0].lower() not in _VOCAB]
    if left:
        out["description"] = _tidy(original[left[0][0]:left[-1][1]])
    return out


_KEYWORD_NOUNS = frozenset({"change", "changes", "review", "migration", "test", "meeting", "call", "fix", "setup",
                            "update", "install"})
# Roles people name without "as" ("2h nordwerk engineer"); any other role needs "as ...".
_KNOWN_ROLE = re.compile(r"\b(?P<role>(?:senior|junior|lead|principal)\s+(?:engineer|consultant|developer)|engineer"
                         r"|service\s+desk|project\s+manager|solution\s+architect|architect|consultant|developer"
                         r"|technician|support\s+engineer)\b(?!\s+(?:ing|ed)\b)", re.I)
_ROLE_STOP = re.compile(r"\s+(?:on|for|today|yesterday|at|to|last|this|in)\b.*$", re.I)
_MILESTONE_NOISE = re.compile(
    r"\b(?:complete[ds]?|completed|done|finished|finish|reached|hit|mark(?:ed)?|close|closed|tick(?:ed)?\s+off|"
    r"milestones?|is|as|the|a|we|for|on|at|of|has|been|now|just|our|it|its|pls|please|reached)\b|[:,;!?.]", re.I)


def _milestone_name(masked: str, original: str) -> str | None:
    """The milestone's name: what is left when the client, the verbs and the fillers are gone."""
    left = _MILESTONE_NOISE.sub(lambda m: " " * len(m[0]), masked)
    spans = [(w.start(), w.end()) for w in re.finditer(r"\S+", left)]
    if not spans:
        return None
    name = original[spans[0][0]:spans[-1][1]].strip(" '\"-")
    return name or None


# ---- contracts: the change, the date it takes effect or ends, which contract ---------------------------------

_NUM = r"(?:\d+|a|an|one|two|three|four|five|six|seven|eight|nine|ten)"


def _mn(i: int) -> str:
    """An amount in a change ("5,500", "6k", "€140"), its groups numbered (a pattern may hold several)."""
    return (rf"(?:[€£$]\s*)?(?P<v{i}>\d{{1,3}}(?:[.,' ]\d{{3}})+(?:[.,]\d{{1,2}})?|\d+(?:[.,]\d{{1,2}})?)"
            rf"(?P<k{i}>\s?k\b)?")


_SEATS = r"(?:[a-z0-9][\w\-]*\s+){0,3}?(?:seats?|licen[cs]es?|users?)\b"
_CHANGES: list[tuple[str, re.Pattern[str]]] = [(k, re.compile(p, re.I)) for k, p in [
    ("seats+", rf"\b(?:add|adds|adding|plus|another|extra|\+)\s*(?P<n>{_NUM})\s+"
               rf"(?:more\s+|extra\s+|additional\s+|new\s+)?{_SEATS}|\b(?P<n2>{_NUM})\s+(?:more|extra|additional|new)\s+{_SEATS}"
               rf"|\b(?:up|increase|raise|bump)\w*\s+(?:the\s+)?(?:\w+\s+)?(?:seats?|licen[cs]es?)\s+by\s+(?P<n3>\d+)"),
    ("seats-", rf"\b(?:remove|removing|drop|dropping|drops|minus|cut|cutting|take\s+off|reduce\w*\s+by|lose|losing)\s*"
               rf"(?P<n>{_NUM})\s+{_SEATS}|\b(?P<n2>{_NUM})\s+(?:fewer|less)\s+{_SEATS}"),
    ("seats=", rf"\b(?:seats?|licen[cs]es?)\s+(?:to|down\s+to|up\s+to|=|at|is|are|now)\s+(?P<n>\d+)\b"
               rf"|\b(?:to|at|now|has|have|of)\s+(?P<n2>\d+)\s+{_SEATS}|\b(?P<n3>\d+)\s+{_SEATS}"),
    ("role_rate", rf"\b(?P<role>senior\s+engineer|engineer|architect|consultant|developer|technician|project\s+manager"
                  rf"|service\s+desk)s?(?:'s)?\s+(?:hourly\s+)?rate\s+(?:to\s+|of\s+|is\s+|=\s*|at\s+)?{_mn(1)}"
                  rf"|\brate\s+(?:of\s+)?{_mn(2)}\s*(?:/\s*h\b|an?\s+hour|per\s+hour)?\s+for\s+(?:the\s+|our\s+)?"
                  rf"(?P<role2>senior\s+engineer|engineer|architect|consultant|developer|technician|project\s+manager)s?"),
    ("unit_price", rf"\b(?:price|unit\s+price|cost)\s+(?:per|a|/)\s*(?:seat|licen[cs]e|user)\b.*?"
                   rf"\b(?:to|is|of|at|=)?\s*{_mn(3)}|{_mn(4)}\s*(?:per|a|/)\s*(?:seat|licen[cs]e|user)\b"),
    ("markup_pct", r"\bmark-?up\b.*?(?P<v>\d+(?:[.,]\d+)?)\s*%"),
    ("included_hours", r"\bincluded\s+hours\b.*?\b(?:to|=|at|is)\s+(?P<v>\d+(?:[.,]\d+)?)\b"
                       r"|\b(?P<v2>\d+(?:[.,]\d+)?)\s+(?:hours|h)\s+included\b"),
    ("cap", rf"\bcap\b.*?\b(?:to|at|of|=)\s+{_mn(5)}"),
    ("cycle", r"\b(?P<c>quarterly|monthly|yearly|annually|annual)\b"),
    ("billing", r"\b(?:in\s+)?(?P<b>arrears|advance)\b"),
    ("fee", rf"\b(?:retainer|fee)\b.*?\b(?:to|=|at|is|of|now)\s+{_mn(6)}|\bnew\s+(?:retainer|fee)\s+(?:of\s+)?"
            rf"{_mn(7)}|\b(?:retainer|fee)\s+{_mn(8)}"),
    ("fee+-", rf"\b(?:retainer|fee)\b.*?\b(?P<dir>up|down)\s+by\s+{_mn(9)}"
              rf"|\b(?P<dir2>raise|increase|bump|lower|reduce|cut)\w*\s+(?:\w+\s+){{0,3}}?(?:retainer|fee)\s+by\s+"
              rf"{_mn(10)}"),
    ("default_rate", rf"\brate\b.*?\b(?:to|=|at|is|of|now)\s+{_mn(11)}|\brate\s+{_mn(12)}|{_mn(13)}\s*/\s*h\b"
                     rf"|{_mn(14)}\s+(?:an|per)\s+hour\b"),
]]
_KINDS = [("subscription", re.compile(r"\b(?:seats?|licen[cs]es?|subscriptions?|edr|endpoint\s+protection|per\s+seat"
                                       r"|users)\b", re.I)),
          ("retainer", re.compile(r"\b(?:retainers?|fee|included\s+hours|managed\s+(?:it|services))\b", re.I)),
          ("time_and_materials", re.compile(r"\b(?:t\s*&\s*m|tm|time\s+and\s+materials?|hourly|rates?|cap|/\s*h)\b",
                                            re.I)),
          ("pass_through", re.compile(r"\b(?:mark-?up|hardware|expenses|pass[- ]through)\b", re.I))]
_CHANGE_KIND = {"seats": "subscription", "unit_price": "subscription", "fee": "retainer", "included_hours": "retainer",
                "default_rate": "time_and_materials", "role_rate": "time_and_materials", "cap": "time_and_materials",
                "markup_pct": "pass_through"}
_NON_LABELS = _words_of("more extra additional new another edr the our their more seats seat")


def _number(word: str) -> int:
    return int(word) if word.isdigit() else _NUMBER_WORDS.get(word.lower(), 0)


def _money_value(m: re.Match[str]) -> str | None:
    """The amount of the alternative that matched: its v<i> group, times 1000 with its k<i>."""
    groups = m.groupdict()
    for key, raw in groups.items():
        if re.fullmatch(r"v\d+", key) and raw:
            value = parse_amount(raw)
            if value is None:
                return None
            if groups.get("k" + key[1:]):
                value *= 1000
            return _plain(value)
    return None


def contract_change(text: str) -> tuple[str | None, int, int]:
    """The term a request changes, as "seats+4", "seats=52", "fee=5500", "fee+500", "default_rate=140",
    "role_rate:Engineer=150", "unit_price=8.00", "markup_pct=15", "cycle=quarterly"; with where it was read."""
    for key, rx in _CHANGES:
        m = rx.search(text)
        if not m:
            continue
        groups = {k: v for k, v in m.groupdict().items() if v}
        if key.startswith("seats"):
            n = _number(groups.get("n") or groups.get("n2") or groups.get("n3") or "0")
            if n <= 0:
                continue
            return f"seats{key[-1]}{n}", m.start(), m.end()
        if key == "role_rate":
            v = _money_value(m)
            role = (groups.get("role") or groups.get("role2") or "").strip()
            return (f"role_rate:{role[:1].upper()}{role[1:].lower()}={v}" if v else None), m.start(), m.end()
        if key in ("cycle", "billing"):
            word = (groups.get("c") or groups.get("b") or "").lower()
            word = {"annually": "yearly", "annual": "yearly"}.get(word, word)
            if key == "cycle" and not re.search(r"\b(?:to|switch|move|go|goes|make|bill|billed|become)\b", text, re.I):
                continue
            return f"{key}={word}", m.start(), m.end()
        if key == "fee+-":
            v = _money_value(m)
            down = (groups.get("dir") or groups.get("dir2") or "").lower() in ("down", "lower", "reduce", "cut")
            return (f"fee{'-' if down else '+'}{v}" if v else None), m.start(), m.end()
        if key in ("markup_pct", "included_hours"):
            raw = groups.get("v") or groups.get("v2") or ""
            value = parse_amount(raw)
            return (f"{key}={_plain(value)}" if value is not None else None), m.start(), m.end()
        v = _money_value(m)
        if v is not None:
            return f"{key}={v}", m.start(), m.end()
    return None, 0, 0


def contract_kind(text: str, change: str | None) -> str | None:
    """The kind of contract meant: from the term changed, else from the words ("T&M", "retainer", "seats")."""
    if change:
        term = re.split(r"[+=:\-]", change, maxsplit=1)[0]
        if term in _CHANGE_KIND:
            return _CHANGE_KIND[term]
        if term == "cycle" or term == "billing":
            return "retainer" if re.search(r"\bretainer\b", text, re.I) else None
    for kind, rx in _KINDS:
        if rx.search(text):
            return kind
    return None


def _nearest(month: int, day: int, today: date, year: int | None = None) -> date | None:
    """A day and month without a year: the nearest such date to today, before or after (a contract change is
    as often ahead as behind)."""
    years = [year] if year else [today.year - 1, today.year, today.year + 1]
    out = []
    for y in years:
        try:
            out.append(date(y, month, min(day, calendar.monthrange(y, month)[1])))
        except ValueError:
            continue
    return min(out, key=lambda d: (abs((d - today).days), d < today)) if out else None


def _month_end(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


def _next_month(today: date) -> date:
    return (today.replace(day=28) + timedelta(days=4)).replace(day=1)


_MONTH_RX = rf"(?P<mon>{_PERIOD_WORDS})\.?(?:\s+(?P<y>\d{{4}}))?"
_END_OF = re.compile(
    r"\b(?:(?:at|by|on|from|as\s+of)\s+)?(?:the\s+)?(?:"
    r"end\s+of\s+(?:the\s+|this\s+)?(?P<this>month)\b|end\s+of\s+(?P<next>next\s+month)\b"
    r"|end\s+of\s+(?:the\s+|this\s+)?(?P<year>year)\b|end\s+of\s+q(?P<q>[1-4])\b"
    rf"|end\s+of\s+{_MONTH_RX}\b|(?P<me>month[- ]end)\b|after\s+(?P<after>this\s+month)\b)", re.I)
_FROM_MONTH = re.compile(
    r"\b(?:from|as\s+of|starting(?:\s+(?:from|in))?|effective(?:\s+from)?|beginning(?:\s+of)?|in)\s+"
    rf"(?:the\s+(?:1st|first)\s+of\s+)?(?:(?P<nextm>next\s+month)|{_MONTH_RX})\b(?!\s*\d)", re.I)
_FROM_WORD = re.compile(r"\b(?P<w>from|as\s+of|starting|effective|beginning)\b\s*$", re.I)


def contract_day(text: str, today: date, ending: bool) -> tuple[date | None, int, int]:
    """The day a change takes effect (`ending`: the last day a contract runs) as people say it: "from the 10th",
    "from 1 May", "from next month", "at the end of the month", "end of next month", "end of Q4", "on friday".
    Days without a year are the nearest such day, before or after today. An end "from" a day ends the day before."""
    m = _END_OF.search(text)
    if m:
        d: date | None
        if m["this"] or m["me"] or m["after"]:
            d = _month_end(today.year, today.month)
        elif m["next"]:
            n = _next_month(today)
            d = _month_end(n.year, n.month)
        elif m["year"]:
            d = date(today.year, 12, 31)
        elif m["q"]:
            d = _month_end(today.year, int(m["q"]) * 3)
        else:
            month = _MONTH_WORDS[m["mon"].lower()]
            first = _nearest(month, 1, today, int(m["y"]) if m["y"] else None)
            d = _month_end(first.year, month) if first else None
        return d, m.start(), m.end()
    day: date | None = None
    span = (0, 0)
    m2 = _FROM_MONTH.search(text)
    if m2:
        day = _next_month(today) if m2["nextm"] else _nearest(_MONTH_WORDS[m2["mon"].lower()], 1, today,
                                                               int(m2["y"]) if m2["y"] else None)
        span = (m2.start(), m2.end())
    else:
        if tm := re.search(r"\btomorrow\b", text, re.I):
            day, span = today + timedelta(days=1), (tm.start(), tm.end())
        for m3 in _DAY.finditer(text):
            if tm:
                break
            day = _contract_day_of(m3, today)
            if day is not None:
                span = (m3.start(), m3.end())
                break
    if day is None:
        return None, 0, 0
    if ending and m2 is not None and re.match(r"in\b", m2[0], re.I):
        day = _month_end(day.year, day.month)  # "end it in December": its last day
    elif ending and (m2 is not None or _FROM_WORD.search(text[:span[0]])):
        day -= timedelta(days=1)  # "stop it from 1 December": 30 November is its last day
    return day, span[0], span[1]


def _contract_day_of(m: re.Match[str], today: date) -> date | None:
    if m["nth"]:
        n = int(m["nth"])
        if not 1 <= n <= 31:
            return None
        prev = today.replace(day=1) - timedelta(days=1)
        nxt = _next_month(today)
        options = [date(y, mo, min(n, calendar.monthrange(y, mo)[1])) for y, mo in
                   ((prev.year, prev.month), (today.year, today.month), (nxt.year, nxt.month))]
        return min(options, key=lambda d: (abs((d - today).days), d < today))
    if m["wd"]:
        name = m["wd"].lower().split()[-1]
        ahead = (_WEEKDAYS.index(name) - today.weekday()) % 7
        return today + timedelta(days=ahead)
    if m["dm"] or m["md"]:
        phrase = (m["dm"] or m["md"]).lower()
        mon = re.search(_PERIOD_WORDS, phrase)
        num = re.search(r"\b(\d{1,2})(?:st|nd|rd|th)?\b(?!\d)", phrase)
        year = re.search(r"\b(\d{4})\b", phrase)
        if mon and num:
            return _nearest(_MONTH_WORDS[mon[0]], int(num[1]), today, int(year[1]) if year else None)
    return day_of(m, today)


def _label(text: str) -> str | None:
    """Words that name the contract beside its kind: "4 EDR seats" -> "EDR"."""
    m = re.search(r"\b(?:\d+|more|extra|additional)\s+(?P<w>(?:[a-z0-9][\w\-]*\s+){1,3}?)(?:seats?|licen[cs]es?)\b",
                  text, re.I)
    if not m:
        return None
    words = [w for w in m["w"].split() if w.lower() not in _NON_LABELS and w.lower() not in _VOCAB]
    return " ".join(words) or None


_LISTING = re.compile(r"\b(?:which|what|whats|any|anything|are\s+there|show|list|pending|waiting|to\s+approve"
                      r"|need\w*\s+my\s+ok)\b|\?\s*$", re.I)
_REJECTING = re.compile(r"\b(?:reject|decline|turn\s+down|don.?t\s+approve|refuse|say\s+no)\b", re.I)
_APPROVING = re.compile(r"\b(?:approve|lgtm|sign\s*off|say\s+yes|accept|go\s+ahead)\b|^\W*ok\b", re.I)


def _decision(original: str, masked: str) -> dict[str, Any]:
    """What finance says to an amendment an account manager proposed: approve (with a note) or reject (with the
    reason); a question ("which amendments are waiting?") decides nothing."""
    out: dict[str, Any] = {}
    if _REJECTING.search(masked):
        out["decision"] = "reject"
        reason = _after_action(original, masked, _REJECTING)
        if reason and not re.fullmatch(r"(?:the\s+)?(?:\w+\s+)?(?:amendment|proposal)", reason, re.I):
            out["reason"] = reason
    elif _APPROVING.search(masked) and not _LISTING.search(masked):
        out["decision"] = "approve"
        note = re.search(r"\bnote:?\s+(.+)$", original, re.I)
        if note:
            out["note"] = _tidy(note[1])
    return out


def _contract(values: dict[str, Any], original: str, client_masked: str, intent: str, today: date) -> None:
    """The details of a request about a contract, read from the text with the client's name masked."""
    text = client_masked
    if intent == "amend":
        change, s0, e0 = contract_change(text)
        if change:
            values["change"] = change
        # the change's own numbers are not a date ("52 seats", "to 5,500")
        dated = _mask(text, s0, e0) if change else text
    else:
        change, dated = None, text
    if intent in ("amend", "end_contract"):
        day, s1, e1 = contract_day(dated, today, ending=intent == "end_contract")
        values.pop("day", None)
        if day is not None:
            values["day"] = day
            text = _mask(text, s1, e1)
        because = _BECAUSE.search(original)
        reason = _tidy(re.sub(r"^of\s+", "", because["r"], flags=re.I)) if because else ""  # "because of the move"
        if reason:
            values["reason"] = reason
    kind = contract_kind(text, change)
    if kind:
        values["arrangement"] = kind
    label = _label(text)
    if label:
        values["label"] = label


# ---- putting it together ---------------------------------------------------------------------------------------

@dataclass
class _Scan:
    original: str
    masked: str
    found: dict[str, Any] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)

    def take(self, m: re.Match[str], group: int | str = 0, flag: str = "") -> None:
        """Mask what a detail was read from (same length, so places in the text stay true) and note it."""
        s, e = m.span(group)
        self.masked = _mask(self.masked, s, e)
        if flag:
            self.flags.add(flag)
            if flag == "__INVOICE__":  # an invoice named is a target, as a client is
                self.flags.add("__TARGET__")


def _invoice_ref(scan: _Scan) -> None:
    for m in _FULL_NUMBER.finditer(scan.masked):
        scan.found["invoice"] = f"{m[1].upper()}-{m[2]}-{m[3]}"
        scan.take(m, 0, "__INVOICE__")
        return
    if m2 := _DRAFT_ID.search(scan.masked):
        scan.found["invoice"] = f"id:{int(m2[1])}"
        scan.take(m2, 0, "__INVOICE__")
        return
    for m3 in _SEQ.finditer(scan.masked):
        before = scan.masked[:m3.start()].lower().split()
        if before and (before[-1] in _MONTH_WORDS or before[-1].endswith("'s")) and not m3[1].startswith("0"):
            continue  # "September invoice 1500": the invoice is named by its month; the number is something else
        scan.found["invoice"] = f"seq:{int(m3[1])}"
        scan.take(m3, 0, "__INVOICE__")
        return
    if m4 := _ZERO_PADDED.search(scan.masked):
        scan.found["invoice"] = f"seq:{int(m4[1])}"
        scan.take(m4, 0, "__INVOICE__")


def _bare_ref(scan: _Scan) -> None:
    """'void 17 - test', 'approve 6': a bare number right after a verb that acts on an invoice."""
    m = re.search(r"\b(?:void|cancel|scrap|kill|approve|reject|issue|send|resend|explain|status|check|history)\s+"
                  r"(?:invoice\s+)?(\d{1,7})\b(?![.,]\d)(?!\s*(?:h|hrs?|hours?|m|mins?|k|eur|gbp|usd|%)\b)",
                  scan.masked, re.I)
    if m:
        scan.found["invoice"] = f"seq:{int(m[1])}"
        scan.take(m, 1, "__INVOICE__")


def _dates(scan: _Scan, today: date) -> None:
    for m in _DAY.finditer(scan.masked):
        if m["dm"] or m["md"]:
            mon = re.search(rf"(?:{_PERIOD_WORDS})", (m["dm"] or m["md"]).lower())
            if mon and mon[0] in _AMBIGUOUS_MONTHS and m["md"] and not _MONTH_CONTEXT.search(
                    scan.masked[:m.start()].lower()):
                continue
        d = day_of(m, today)
        if d is not None:
            scan.found.setdefault("day", d)
            scan.take(m)
    for m in _PERIOD.finditer(scan.masked):
        if m["mon"] and m["mon"].lower() in _AMBIGUOUS_MONTHS and not _MONTH_CONTEXT.search(
                scan.masked[:m.start()].lower()) and not re.match(r"\s*(?:invoice|bill|draft|one)\b",
                                                                  scan.masked[m.end():], re.I):
            continue
        p = _period(m, today)
        if p is not None:
            scan.found.setdefault("period", p)
            scan.take(m)
    if "period" not in scan.found:
        for w in re.finditer(r"[a-z]{5,}", scan.masked.lower()):
            if w[0] in _VOCAB:
                continue
            hit = process.extractOne(w[0], list(_MONTHS), scorer=fuzz.ratio, score_cutoff=80)
            if hit:
                month = _MONTHS[str(hit[0])]
                scan.found["period"] = f"{today.year if month <= today.month else today.year - 1}-{month:02d}"
                scan.take(w)
                break


def _money(scan: _Scan, mask: bool) -> None:
    """The amount: the number with a currency, or with decimals or thousands, or the only one left; 'in full'."""
    if f := _FULL.search(scan.masked):
        scan.found["amount"] = "full"
        scan.flags.add("__AMOUNT__")
        if mask and "paid" not in f[0].lower():
            scan.take(f)
        return
    best: tuple[int, re.Match[str]] | None = None
    for m in _AMOUNT.finditer(scan.masked):
        if not m["num"]:
            continue
        tail = scan.masked[m.end():m.end() + 8].lower()
        if re.match(r"\s*(?:%|h\b|hrs?\b|hours?\b|min|st\b|nd\b|rd\b|th\b)", tail):
            continue
        weight = (2 if (m["pre"] or m["post"]) else 0) + (1 if (m["k"] or re.search(r"[.,]", m["num"])) else 0)
        if best is None or weight > best[0]:
            best = (weight, m)
    if best is None:
        return
    m = best[1]
    value = parse_amount(m["num"])
    if value is None:
        return
    if m["k"]:
        value *= 1000
    cur = (m["pre"] or m["post"] or "").lower()
    currency = _CURRENCY_SIGNS.get(cur) or {"euro": "EUR", "euros": "EUR", "pound": "GBP", "pounds": "GBP",
                                            "quid": "GBP"}.get(cur) or (cur.upper() if cur else None)
    scan.found["amount"] = _plain(value)
    if currency:
        scan.found["currency"] = currency
    scan.flags.add("__AMOUNT__")
    if mask:
        scan.take(m)


def _hours(scan: _Scan) -> None:
    d = parse_duration(scan.masked)
    if d is not None and d[0] > 0:
        scan.found["hours"] = _plain(d[0])
        scan.masked = _mask(scan.masked, d[1], d[2])
        scan.flags.add("__HOURS__")


def _normalise(text: str) -> str:
    text = text.replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"')
    text = re.sub(r"(?<=[a-z])n't\b", "nt", text, flags=re.I)  # "hasn't" is one word, "hasnt", as typed in chat
    text = re.sub(r"(?<=[a-z])'(?:ve|re|ll|d|m)\b", "", text, flags=re.I)
    return re.sub(r"\s+", " ", text).strip()


def _fix_typos(text: str) -> str:
    """Typos of request words fixed ("rejct" -> "reject"), for reading the intent only."""
    return re.sub(r"[A-Za-z]{5,}", lambda m: _fix_word(m[0].lower()) if _fix_word(m[0].lower()) != m[0].lower()
                  else m[0], text)


def understand(text: str, today: date, clients: Sequence[str] | None = None, carry: str | None = None,
               ) -> Understanding:
    """What `text` asks for, read on `today`, with `clients` the names the books hold (None: not looked up yet,
    so no client is resolved and none is asked for). `carry`: the intent of the request before, for a message
    that names only details ("and for Nordwerk?")."""
    original = _normalise(text)
    scan = _Scan(original, original)
    _invoice_ref(scan)
    _dates(scan, today)
    _hours(scan)
    _money(scan, mask=False)  # only a flag for now: whether it is an amount depends on the intent
    # The client, before the intent, so that a client's name is never read as a request word.
    hit = find_client(scan.masked, clients) if clients else None
    if hit is not None:
        scan.masked = _mask(scan.masked, hit.start, hit.end)
        scan.flags.add("__TARGET__")
    intent = _intent(scan.masked, scan.flags)
    if carry is not None and (intent is None or (intent == "status" and carry != "status")):
        intent = carry
    if intent is None:
        return Understanding(None)
    client_masked = _mask(original, hit.start, hit.end) if hit is not None else original
    if intent in ("payment", "credit"):
        scan.found.pop("amount", None)
        scan.found.pop("currency", None)
        _money(scan, mask=True)
    else:
        scan.found.pop("amount", None)
        scan.found.pop("currency", None)
    if intent in ("void", "approve", "reject", "issue", "send", "explain", "status", "history") \
            and "invoice" not in scan.found:
        _bare_ref(scan)
    slots = SLOTS[intent]
    values: dict[str, Any] = {k: v for k, v in scan.found.items() if k in slots}
    if "client" in slots and hit is not None:
        if len(hit.names) == 1:
            values["client"] = next(iter(hit.names))
        else:
            values["choices"] = tuple(sorted(hit.names))
            values["client_text"] = original[hit.start:hit.end].strip()
    elif "client" in slots and clients is not None and "invoice" not in values:
        because = _BECAUSE.search(scan.masked) if intent in ("reject", "void", "credit") else None
        unknown = unknown_client(scan.masked[:because.start()] if because else scan.masked)
        if unknown is not None:
            values["client_text"] = original[unknown[1]:unknown[2]].strip()
            scan.masked = _mask(scan.masked, unknown[1], unknown[2])
    if intent == "status":
        values["paying"] = bool(re.search(r"\b(?:pa(?:y|id|ys)|settle[ds]?|owes?|balance|open)\b", scan.masked, re.I))
    if intent == "overdue":
        values["open_only"] = bool(_OPEN_WORDS.search(scan.masked)) and not _LATE_WORDS.search(scan.masked)
    if intent in ("reject", "void", "credit"):
        reason = _after_action(original, scan.masked, _cue(intent))
        if reason:
            values["reason"] = reason
    elif intent == "approve":
        note = re.search(r"\bnote:?\s+(.+)$", original, re.I)
        if note:
            values["note"] = _tidy(note[1])
        else:
            n = _after_action(original, scan.masked, re.compile(r"\bapprove[ds]?\b|\bsign\s*off\b|\blgtm\b", re.I),
                              tail=False)
            if n and not _cue("approve").search(n):
                values["note"] = n
    elif intent == "payment":
        ref = re.search(r"\bref(?:erence)?\.?:?\s+(.+?)\s*$", original, re.I)
        if ref:
            values["reference"] = ref[1].strip()
    elif intent == "log_time":
        values.update(_work(original, scan.masked))
    elif intent == "milestone":
        name = _milestone_name(scan.masked, original)
        if name:
            values["milestone"] = name
    elif intent == "proposals":
        values.update(_decision(original, scan.masked))
    elif intent in ("amend", "end_contract", "contract"):
        if "client_text" in values:
            client_masked = _mask(client_masked, *_span_of(original, values["client_text"]))
        _contract(values, original, client_masked, intent, today)
    return _ask(replace(Understanding(intent), **values), clients is not None)


def _span_of(text: str, part: str) -> tuple[int, int]:
    i = text.find(part)
    return (i, i + len(part)) if i >= 0 else (0, 0)


def _ask(u: Understanding, looked_up: bool) -> Understanding:
    """The first thing the intent needs and lacks (or that is unknown or ambiguous): the one question to ask."""
    assert u.intent is not None
    needs = _NEEDS.get(u.intent, ())
    if u.intent == "proposals" and u.decision == "reject":
        needs = ("reason",)  # a rejected amendment says why, as a rejected invoice does
    uses_client = "client" in SLOTS[u.intent]
    if uses_client and (u.choices or u.client_text):
        return replace(u, ask="client")
    for need in needs:
        if need == "target":
            if u.invoice is None and u.client is None:
                return replace(u, ask="invoice")
        elif need == "client":
            if u.client is None and looked_up:
                return replace(u, ask="client")
        elif getattr(u, need) is None:
            return replace(u, ask=need)
    return u


_ORDINALS = {"first": 0, "1st": 0, "1": 0, "second": 1, "2nd": 1, "2": 1, "two": 1, "third": 2, "3rd": 2,
             "3": 2, "three": 2, "last": -1}


def pick(text: str, choices: Sequence[str]) -> str | None:
    """Which of the choices an answer means: "the second", or a word only one of them has ("the Ltd one",
    "Logistik"), typos allowed."""
    words = [w for w, _, _ in _tokens(text)]
    own = []
    for c in choices:
        mine = {w.strip(".") for w in _words(c)}
        others = {w.strip(".") for o in choices if o != c for w in _words(o)}
        own.append(mine - others - {"&"})
    hits = {i for i, unique in enumerate(own) for w in words if w not in _STOP
            and process.extractOne(w, list(unique), scorer=fuzz.ratio, score_cutoff=85)}
    if len(hits) == 1:
        return choices[hits.pop()]
    if len(words) <= 3:
        for w in words:
            if w in _ORDINALS and abs(_ORDINALS[w]) < len(choices) + (_ORDINALS[w] < 0):
                return choices[_ORDINALS[w]]
    return None


def answer(u: Understanding, text: str, today: date, clients: Sequence[str] | None) -> Understanding | None:
    """The person's answer to the question `u.ask`, filled in (and the next question, if any); None when the
    text does not answer it."""
    slot = u.ask
    original = _normalise(text)
    low = original.lower().strip(" .!?")
    if slot == "client":
        picked = pick(original, u.choices) if u.choices else None
        if picked is not None:
            return _ask(replace(u, client=picked, client_text=None, choices=(), ask=None), clients is not None)
        pool = list(u.choices) if u.choices else list(clients or ())
        hit = find_client(original, pool) if pool else None
        if hit is None and u.choices:
            hit = find_client(original, list(clients or ()))
        if hit is None or len(hit.names) != 1:
            return None
        return _ask(replace(u, client=next(iter(hit.names)), client_text=None, choices=(), ask=None),
                    clients is not None)
    if slot == "period":
        p = month_of(original, today)
        return _ask(replace(u, period=p, ask=None), clients is not None) if p else None
    if slot == "invoice":
        scan = _Scan(original, original)
        _invoice_ref(scan)
        if "invoice" not in scan.found and re.fullmatch(r"#?\s*\d{1,7}", low):
            scan.found["invoice"] = f"seq:{int(low.lstrip('#'))}"
        if "invoice" in scan.found:
            return _ask(replace(u, invoice=scan.found["invoice"], ask=None), clients is not None)
        hit = find_client(original, list(clients or ())) if clients else None
        if hit is not None and len(hit.names) == 1:
            period = month_of(original, today)
            return _ask(replace(u, client=next(iter(hit.names)), period=period or u.period, ask=None),
                        clients is not None)
        return None
    if slot == "amount":
        scan = _Scan(original, original)
        _money(scan, mask=True)
        if "amount" not in scan.found:
            return None
        return _ask(replace(u, amount=scan.found["amount"], currency=scan.found.get("currency") or u.currency,
                            ask=None), clients is not None)
    if slot == "hours":
        d = parse_duration(original)
        hours = d[0] if d else parse_amount(low) if re.fullmatch(r"\d+(?:[.,]\d+)?", low) else None
        if not hours:
            return None
        return _ask(replace(u, hours=_plain(hours), ask=None), clients is not None)
    if slot == "day":
        on, _s, _e = contract_day(original, today, ending=u.intent == "end_contract")
        return _ask(replace(u, day=on, ask=None), clients is not None) if on else None
    if slot == "change":
        change, _s, _e = contract_change(original)
        if change is None:
            return None
        kind = contract_kind(original, change) or u.arrangement
        return _ask(replace(u, change=change, arrangement=kind, ask=None), clients is not None)
    if slot == "arrangement":
        picked = pick(original, u.choices) if u.choices else None
        return _ask(replace(u, label=picked, choices=(), ask=None), clients is not None) if picked else None
    if slot in FREE_TEXT:
        value = re.sub(r"^(?:as\s+(?:an?\s+)?|role:?\s+|because\s+|reason:?\s+|it'?s\s+)", "", original, flags=re.I)
        value = _tidy(value)
        if not value:
            return None
        if slot == "role":
            value = value[:1].upper() + value[1:].lower()
        filled: dict[str, Any] = {slot: value, "ask": None}
        return _ask(replace(u, **filled), clients is not None)
    return None


def describe_period(period: str) -> str:
    if "-Q" in period:
        year, q = period.split("-Q")
        return f"Q{q} {year}"
    return datetime.strptime(period, "%Y-%m").strftime("%B %Y")


def period_months(period: str) -> list[str]:
    """'2026-Q3' -> ['2026-07', '2026-08', '2026-09']; '2026-10' -> ['2026-10']."""
    if "-Q" in period:
        year, q = period.split("-Q")
        first = (int(q) - 1) * 3 + 1
        return [f"{year}-{m:02d}" for m in range(first, first + 3)]
    return [period]


def names_something(text: str) -> bool:
    """Whether the text holds words that are no request word, date or number: perhaps a client's name."""
    scan = _Scan(_normalise(text), _normalise(text))
    _invoice_ref(scan)
    _dates(scan, date(2000, 1, 1))
    _hours(scan)
    return any(w not in _VOCAB and _fix_word(w) not in _VOCAB and re.match(r"[a-z]", w)
               for w, _, _ in _tokens(scan.masked))


def warm_up() -> None:
    """Load what the first call would (dateparser's language data takes a second or more, once per process)."""
    _dateparser("2 days ago", date(2026, 1, 15))
    understand("put 90 min on Acme for the firewall change, as engineer", date(2026, 1, 15), ["Acme GmbH"])
