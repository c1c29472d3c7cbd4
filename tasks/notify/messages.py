"""Each e-mail utkast sends, built from plain data, in Swedish.

A :class:`Message` has a stable id made from what it is about (the kind, who it is for, the
file's key and content, the draft's version, the piece and reminder stage), so the outbox
can tell whether it went out already; it is also the message's Message-ID header, so a
copy sent twice is recognisable. Builders take only the data of the one partner (or draft,
or run) the message is about: a message to a partner never holds another partner's data.
File names come already masked (:mod:`tasks.personal.filenames`): personal data in a name
does not travel by e-mail, not even back to the partner who wrote it.

A message never holds a working link while it is kept: its text has the line
:data:`LINK_SLOT` where the person's own page goes, and :func:`with_link` puts the link (made
again from the stored nonce and the key) in only when the message is sent; with None the
line says to use the personal link from the invitation. So the outbox, which lies with the
outputs, gives nobody a way in.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import asdict, dataclass, field, replace
from datetime import date

from tasks.core.formats import accepted_sv
from tasks.core.templating import swedish_date

KINDS = ("receipt", "review", "reminder", "comments", "bundle", "draft", "failure")
PARTNER_KINDS = ("receipt", "review", "reminder", "comments")  # what bundle() puts together
SEVERITY_SV = {"fel": ("fel", "fel"), "varning": ("varning", "varningar"), "tips": ("tips", "tips")}
ACCEPTED_SV = accepted_sv()  # the formats partners may send: tasks/core/formats.py


@dataclass(frozen=True)
class Contact:
    """Who partners may ask: the coordinator's name and first address, and the project."""

    name: str
    email: str | None
    project: str


@dataclass
class Message:
    """One e-mail: who it goes to, its Swedish subject and text, and what it is about."""

    id: str
    kind: str  # one of KINDS
    about: str  # the partner's slug, the reviewer's name or "coordinator"
    to: list[str]
    subject: str
    body: str
    facts: dict = field(default_factory=dict)  # what tests and summaries may read (no values of personal data)
    parts: list[str] = field(default_factory=list)  # the paragraphs about the matter (no greeting, link, footer)
    covers: list[str] = field(default_factory=list)  # ids of the messages this one stands for (sent once, here)
    reply_to: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> Message:
        return cls(**{k: data[k] for k in ("id", "kind", "about", "to", "subject", "body")},
                   **{k: data.get(k) or type_() for k, type_ in (("facts", dict), ("parts", list), ("covers", list),
                                                                   ("reply_to", list))})


def message_id(kind: str, *about: object) -> str:
    """A stable id from what the message is about: ``receipt-3f2a…`` (the same facts give the same id)."""
    digest = hashlib.sha256("\0".join(str(a) for a in (kind, *about)).encode("utf-8")).hexdigest()
    return f"{kind}-{digest[:24]}"


def _n(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _quote(text: str) -> str:
    return f"”{text}”"


LINK_SLOT = "⟦personlig länk⟧"  # a line of its own; replaced by with_link() when the message is sent


def link_of(message: Message) -> tuple[str, str] | None:
    """Whose page the message links to: ("partner", slug), ("reviewer", name) or None."""
    if message.kind == "draft":
        return ("reviewer", message.about)
    if message.kind in (*PARTNER_KINDS, "bundle"):
        return ("partner", message.about)
    return None


PERSONAL_LINE = {"reviewer": "Länken är personlig: den öppnar din sida utan lösenord. Vidarebefordra inte det här "
                             "meddelandet och dela inte länken.",
                 "partner": "Länken är personlig för er organisation: den öppnar er sida utan lösenord. "
                            "Vidarebefordra inte det här meddelandet utanför organisationen och dela inte länken."}


def _link_paragraph(kind: str, link: str | None) -> str:
    if kind == "reviewer":
        if link:
            return f"Din sida med alla utkast och ändringarna: {link}\n{PERSONAL_LINE[kind]}"
        return "Alla utkast och ändringarna finns på granskarsidan: använd den personliga länken i din inbjudan."
    if link:
        return f"Er sida, med era rapporter, granskningar och besked: {link}\n{PERSONAL_LINE[kind]}"
    return ("Era rapporter, granskningar och besked finns på er sida: använd den personliga länken i "
            "inbjudan ni har fått från samordnaren.")


def with_link(message: Message, link: str | None) -> Message:
    """The message as it is sent: :data:`LINK_SLOT` replaced by the person's page (``link``)
    or, with None, by where to find it."""
    whose = link_of(message)
    if whose is None or LINK_SLOT not in message.body:
        return message
    return replace(message, body=message.body.replace(LINK_SLOT, _link_paragraph(whose[0], link)))


def _footer(contact: Contact, du: bool = False) -> str:
    """The signature; with the coordinator's address, replies reach them (``Reply-To``)."""
    who = contact.name + (f", {contact.email}" if contact.email else "")
    if contact.email:
        ask = ("Har du frågor? Svara på det här meddelandet, så når du samordnaren." if du else
               "Har ni frågor? Svara på det här meddelandet, så når ni samordnaren.")
    else:
        ask = "Frågor besvaras av samordnaren."
    return f"Med vänliga hälsningar\n{who}\nFörstudien {_quote(contact.project)}\n\nDet här meddelandet skickades " \
           f"automatiskt. {ask}"


def _body(*paragraphs: str | None) -> str:
    return "\n\n".join(p for p in paragraphs if p) + "\n"


# --- to a partner ---------------------------------------------------------------------------

UPLOAD = "ladda upp"  # what a partner does on their page
FOLLOWS = "Ni får ett meddelande när språkgranskningen av rapporten är klar."
EXAMPLE_NAME = "1.3 Kvalitetssäkring.docx"


def _partner_message(kind: str, id: str, partner: str, to: list[str], subject: str, parts: list[str | None],
                     contact: Contact, facts: dict) -> Message:
    """A message to a partner: greeting, ``parts`` (None left out), their link, the footer."""
    parts = [p for p in parts if p]
    return Message(id=id, kind=kind, about=partner, to=list(to), subject=subject,
                   body=_body("Hej!", *parts, LINK_SLOT, _footer(contact)), facts=facts, parts=parts,
                   reply_to=[contact.email] if contact.email else [])


def _masked_name_note(name_masked: bool) -> str | None:
    return ("Filnamnet innehåller personuppgifter och visas därför maskerat, här och för andra. Byt gärna namn på "
            "filen." if name_masked else None)


def accepted_receipt(*, partner: str, partner_name: str, to: list[str], key: str, content: str, name: str,
                     piece: str, piece_title: str, version: int = 1, pages: float | None = None,
                     personal: str | None = None, name_masked: bool = False,
                     contact: Contact) -> Message:
    """The partner's file was accepted as ``piece`` (``name``: the file name as shown;
    ``content``: its sha256; ``pages`` when longer than commissioned; ``personal``: what
    personal data the report holds, as counts). Its last part says that the language review
    follows (left out when :func:`bundle` puts the review beside it)."""
    return _partner_message(
        "receipt", message_id("receipt", partner, key, content, "accepted"), partner, to,
        f"Mottagen: delrapport {piece} från {partner_name}",
        [f"Vi har tagit emot filen {_quote(name)} från {partner_name}. Den används som delrapport {piece} "
         f"{_quote(piece_title)}" + (f", version {version}. Den ersätter den tidigare versionen." if version > 1
                                     else "."),
         f"Rapporten är ungefär {str(pages).replace('.', ',')} sidor lång; beställt är 2–3 sidor. Korta den gärna "
         f"och {UPLOAD} den igen på er sida." if pages else None,
         f"I rapporten hittade vi personuppgifter ({personal}). De tas bort ur det gemensamma utkastet; i "
         f"språkgranskningen ser ni var de står. Ta gärna bort dem och {UPLOAD} rapporten igen." if personal else None,
         _masked_name_note(name_masked),
         FOLLOWS],
        contact, {"verdict": "accepted", "piece": piece, "file": name, "content": content,
                  "headline": f"Mottagen: delrapport {piece}"})


def rejected_receipt(*, partner: str, partner_name: str, to: list[str], key: str, content: str, reason_code: str,
                     name: str, reason: str, piece: str | None = None, name_masked: bool = False,
                     contact: Contact) -> Message:
    """The partner's file was not accepted: why (``reason``, Swedish, already saying what to
    do) and what to send instead."""
    where = f" (delrapport {piece})" if piece else ""
    return _partner_message(
        "receipt", message_id("receipt", partner, key, content, "rejected", reason_code), partner, to,
        f"Kunde inte tas emot: {name}",
        [f"Filen {_quote(name)} från {partner_name}{where} kunde inte tas emot.",
         f"Varför: {reason}",
         f"Vad ni kan göra: {UPLOAD} en rättad fil på er sida, med delrapportens nummer först i filnamnet (till "
         f"exempel {_quote(EXAMPLE_NAME)}). Vi tar emot {ACCEPTED_SV}. Ni får besked när den nya filen är "
         "inläst; den här filen används inte.",
         _masked_name_note(name_masked)],
        contact, {"verdict": "rejected", "piece": piece, "file": name, "reason_code": reason_code,
                  "headline": f"Kunde inte tas emot: {name}"})


def _points_sv(findings: int) -> str:
    return _n(findings, "påpekande", "påpekanden") if findings else "inga påpekanden"


def review_ready(*, partner: str, partner_name: str, to: list[str], piece: str, piece_title: str, content: str,
                 findings: int, by_severity: dict[str, int] | None = None,
                 contact: Contact) -> Message:
    """The language review of the partner's report of ``piece`` (content ``content``) is done."""
    parts = [_n(n, *SEVERITY_SV[s]) for s, n in (by_severity or {}).items() if n and s in SEVERITY_SV]
    points = _points_sv(findings)
    result = (f"Språkgranskningen av er delrapport {piece} {_quote(piece_title)} är klar: {points}"
              + (f" ({', '.join(parts)})." if parts else "."))
    return _partner_message(
        "review", message_id("review", partner, piece, content), partner, to,
        f"Språkgranskning klar: delrapport {piece} ({points})",
        [result if findings else f"Språkgranskningen av er delrapport {piece} {_quote(piece_title)} är klar. "
                                 "Den hittade inget att påpeka.",
         "Granskningen finns på er sida, som webbsida och som er egen Word-fil med påpekandena som kommentarer i "
         f"marginalen. Rätta gärna i er fil och {UPLOAD} den igen; den nya versionen granskas då på nytt."
         if findings else None],
        contact, {"piece": piece, "findings": findings, "content": content, "points": points,
                  "headline": f"Språkgranskning klar: delrapport {piece}"})


def reminder(*, partner: str, partner_name: str, to: list[str], piece: str, piece_title: str, due: date,
             stage: str, today: date, contact: Contact) -> Message:
    """A commissioned piece has not arrived: ``stage`` "before" its due date, or "late"."""
    due_sv = swedish_date(due)
    example = f"{piece} {' '.join(piece_title.split()[:3]).rstrip(',')}.docx"
    how = (f"Ladda upp rapporten (2–3 sidor, helst som Word-fil) på er sida, med delrapportens nummer först i "
           f"filnamnet, till exempel {_quote(example)}.")
    if stage == "late":
        subject, headline = f"Försenad: delrapport {piece} skulle ha lämnats {due_sv}", f"Försenad: delrapport {piece}"
        text = (f"Delrapport {piece} {_quote(piece_title)} från {partner_name} skulle ha lämnats senast {due_sv} "
                f"och har inte kommit in. Ladda upp den så snart ni kan.")
    else:
        days = (due - today).days
        when = "i dag" if days == 0 else "i morgon" if days == 1 else f"om {days} dagar"
        subject = f"Påminnelse: delrapport {piece} ska lämnas senast {due_sv}"
        headline = f"Påminnelse: delrapport {piece}"
        text = (f"Vi har ännu inte fått delrapport {piece} {_quote(piece_title)} från {partner_name}. Den ska "
                f"lämnas senast {due_sv}, alltså {when}.")
    return _partner_message(
        "reminder", message_id("reminder", partner, piece, stage, due.isoformat()), partner, to, subject,
        [text, how, "Har ni redan lämnat den, eller behöver ni mer tid? Hör av er till samordnaren."],
        contact, {"piece": piece, "stage": stage, "due": due.isoformat(), "headline": headline})


def comments_arrived(*, partner: str, partner_name: str, to: list[str], pieces: list[tuple[str, str, int]],
                     covers: list[str], contact: Contact) -> Message:
    """Reviewers commented on the partner's text: ``pieces`` are (piece, title, new comments)
    in outline order; ``covers``: the ids of the comments told here (each is told once)."""
    total = sum(n for _, _, n in pieces)
    news = _n(total, "ny synpunkt", "nya synpunkter")
    where = ", ".join(f"{_n(n, 'synpunkt', 'synpunkter')} på delrapport {piece} {_quote(title)}"
                      for piece, title, n in pieces)
    message = _partner_message(
        "comments", message_id("comments", partner, *sorted(covers)), partner, to,
        f"Synpunkter från granskarna: {news} på er text",
        [f"De externa granskarna har lämnat {news} på er text i utkastet: {where}.",
         "Synpunkterna står på er sida, vid varje delrapport. Ändra gärna i er rapport och "
         f"{UPLOAD} den nya versionen där; samordnaren håller reda på vilka synpunkter som är klara."],
        contact, {"comments": total, "pieces": [p for p, _, _ in pieces],
                  "headline": f"Synpunkter från granskarna: {news}"})
    return replace(message, covers=list(covers))


def _sections(messages: list[Message]) -> tuple[list[str], list[str]]:
    """The paragraphs and headlines of several messages to one partner, in order; a receipt
    and the review of the same content become one section ("Mottagen och granskad")."""
    reviews = {(m.facts.get("piece"), m.facts.get("content")): m for m in messages if m.kind == "review"}
    used: set[str] = set()
    parts: list[str] = []
    headlines: list[str] = []
    for m in messages:
        if m.id in used:
            continue
        review = reviews.get((m.facts.get("piece"), m.facts.get("content"))) if m.kind == "receipt" else None
        if review is not None and m.facts.get("verdict") == "accepted":
            used.add(review.id)
            parts += [p for p in m.parts if p != FOLLOWS] + review.parts
            headlines.append(f"Mottagen och granskad: delrapport {m.facts['piece']} ({review.facts['points']})")
        else:
            parts += m.parts
            headlines.append(m.facts.get("headline") or m.subject)
    return parts, headlines


def bundle(messages: list[Message], contact: Contact) -> list[Message]:
    """One message per partner (and addresses) for what a run has to tell them: a single
    message stays as it is; several become one, in the order given, whose ``covers`` are
    their ids (and what they covered). Messages to others pass through."""
    groups: dict[tuple, list[Message]] = {}
    for m in messages:
        groups.setdefault((m.about, tuple(m.to)) if m.kind in PARTNER_KINDS else (m.id,), []).append(m)
    found = []
    for group in groups.values():
        if len(group) == 1:
            found.append(group[0])
            continue
        parts, headlines = _sections(group)
        ids = [m.id for m in group]
        subject = headlines[0] if len(headlines) == 1 else "; ".join(headlines[:2]) + (
            f" och {_n(len(headlines) - 2, 'besked', 'besked')} till" if len(headlines) > 2 else "")
        found.append(_partner_message(
            "bundle", message_id("bundle", group[0].about, *sorted(ids)), group[0].about, group[0].to, subject,
            parts, contact, {"kinds": [m.kind for m in group], "headlines": headlines}))
        found[-1].covers.extend(sorted({*ids, *(c for m in group for c in m.covers)}))
    return found


# --- to a reviewer --------------------------------------------------------------------------


def new_draft(*, reviewer: str, to: list[str], version: str, created_sv: str, title: str, previous: str | None,
              changes: list[str], summary: str, links: dict[str, str], contact: Contact) -> Message:
    """A new draft is published: what changed (``changes``: Swedish lines with report
    titles, already masked) and where to download it (``links``: label -> URL, only links a
    person can open from anywhere), and the reviewer's own page (put in when sent)."""
    if changes:
        changed = (f"Ändringar sedan förra utkastet ({previous}), {summary}:\n" if previous else
                   "Det här är det första utkastet. Det innehåller:\n") + "\n".join(f"- {c}" for c in changes)
    else:
        changed = "Inga delrapporter har ändrats sedan förra utkastet; mallar eller val har ändrats."
    where = ("Ladda ner:\n" + "\n".join(f"- {label}: {url}" for label, url in links.items())) if links else None
    return Message(
        id=message_id("draft", reviewer.casefold(), version), kind="draft", about=reviewer, to=list(to),
        subject=f"Nytt utkast att granska: {created_sv}",
        body=_body(
            f"Hej {reviewer}!",
            f"Ett nytt utkast av {_quote(title)} publicerades {created_sv} (version {version}).",
            changed, where, LINK_SLOT,
            "Så lämnar du synpunkter: ladda ner utkastet som Word-fil, skriv kommentarer och gör ändringsförslag "
            "med Spåra ändringar påslaget, och ladda upp Word-filen på din granskarsida. Varje synpunkt förs till "
            "den partner vars text den gäller, och partnern får ett meddelande om det.",
            _footer(contact, du=True)),
        facts={"version": version, "changes": len(changes)}, reply_to=[contact.email] if contact.email else [])


# --- to the coordinator ---------------------------------------------------------------------

FLOW_SV = {"intake": "inläsning av inkorgen", "build_draft": "bygge av utkast",
           "harvest_comments": "inläsning av granskarnas synpunkter"}
# Environment variables whose values are secrets: never in a message, whatever an error says.
SECRET_VARIABLES = ("UTKAST_SMTP_PASSWORD", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "LANGUAGETOOL_API_KEY",
                    "LANGUAGETOOL_PASSWORD", "PREFECT_API_KEY")
USERINFO = re.compile(r"(?<=://)[^/@\s]+@")


def without_secrets(text: str, environ=os.environ) -> str:
    """``text`` without a user name and password in any URL and without the value of any
    secret environment variable."""
    text = USERINFO.sub("", text)
    for name in SECRET_VARIABLES:
        value = environ.get(name)
        if value and len(value) >= 4:
            text = text.replace(value, "[hemligt]")
    return text


def failed_run(*, run_id: str, flow: str, run_name: str, when_sv: str, problem: str, to: list[str],
               ui_link: str | None, contact: Contact) -> Message:
    """A flow run failed or crashed (``problem``: its message, already without secrets and
    personal data)."""
    what = FLOW_SV.get(flow, flow)
    return Message(
        id=message_id("failure", run_id), kind="failure", about="coordinator", to=list(to),
        subject=f"Körningen misslyckades: {what} ({run_name})",
        body=_body(
            "Hej!",
            f"Körningen {_quote(run_name)} ({what}) misslyckades {when_sv}.",
            f"Felet: {problem}",
            f"Körningen i Prefect: {ui_link}" if ui_link else None,
            "Inget halvfärdigt har publicerats: det senaste utkastet och dess länkar gäller som förut. Kör igen när "
            "felet är åtgärdat, eller vänta på nästa schemalagda körning.",
            f"Det här meddelandet skickades automatiskt av utkast, förstudien {_quote(contact.project)}."),
        facts={"flow": flow})
