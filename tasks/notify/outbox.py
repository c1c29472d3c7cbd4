"""The outbox, kept with the outputs (``notify/``): what went out, what waits, and the
decision whether a message is new.

One object per message, its state in its key, so a listing says what is known without
reading it and no two writers touch the same object:

- ``notify/waiting/<id>.json``: the whole message, ``attempts``, ``last_error``, and while a
  send is under way ``attempt_started``;
- ``notify/sent/<id>.json``: who it went to, the subject and when (the text is not kept);
- ``notify/failed/<id>.json``: refused for good by the server (a 5xx answer), with why;
- ``notify/skipped/<id>.json``: not sent and never to be (no address, e-mail switched off);
- ``notify/merged/<id>.json``: told inside another message (``into``: its id), so known;
- ``notify/started.json``: when the outbox began, and the ids of messages about what was
  there before (a partner's old files get no receipts when e-mail is switched on).

Sending one message: its waiting record is written with ``attempt_started``, then the
server gets it, then the sent record is written and the waiting one deleted. A run killed
between the server's acceptance and the sent record leaves a waiting record with
``attempt_started``: the next run sends it again with the same Message-ID (at least once,
never lost; a copy is recognisable) and marks it ``repeat``. A message in both states (killed
between writing the sent record and deleting the waiting one) counts as sent.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from tasks.core.templating import STOCKHOLM
from tasks.notify.messages import Message, link_of, with_link
from tasks.notify.smtp import SendProblem
from tasks.storage.base import Storage

PREFIX = "notify/"
STATES = ("sent", "waiting", "failed", "skipped", "merged")
STARTED = f"{PREFIX}started.json"


class Sender(Protocol):
    def send(self, message: Message) -> None: ...
    def close(self) -> None: ...


def _stamp(now: float) -> str:
    return datetime.fromtimestamp(now, STOCKHOLM).isoformat(timespec="seconds")


@dataclass
class Delivery:
    """What a run's e-mail came to."""

    sent: list[str] = field(default_factory=list)  # ids sent in this run
    waiting: int = 0  # messages still waiting (for the next run)
    failed: int = 0  # refused for good in this run
    skipped: int = 0  # recorded as never to be sent in this run
    problem: str | None = None  # why messages wait (never the password)

    def then(self, later: Delivery) -> Delivery:
        """This run's deliveries followed by ``later`` (which knows what still waits)."""
        return Delivery(self.sent + later.sent, later.waiting, self.failed + later.failed,
                        self.skipped + later.skipped, later.problem or (self.problem if later.waiting else None))

    def line(self) -> str | None:
        """One line for the terminal, or None when there is nothing to say."""
        parts = []
        if self.sent:
            parts.append(f"{len(self.sent)} sent")
        if self.failed:
            parts.append(f"{self.failed} refused by the server for good (see notify/failed/)")
        if self.waiting:
            parts.append(f"{self.waiting} waiting ({self.problem or 'not sent yet'}); they go out on the next run")
        return f"E-mail: {'; '.join(parts)}." if parts else None

    def line_sv(self) -> str | None:
        """The same in Swedish, for the Prefect artifacts."""
        parts = []
        if self.sent:
            parts.append(f"{len(self.sent)} skickade")
        if self.failed:
            parts.append(f"{self.failed} nekade av servern (se notify/failed/)")
        if self.waiting:
            parts.append(f"{self.waiting} väntar ({self.problem or 'inte skickade än'}) och skickas vid nästa körning")
        return f"E-post: {'; '.join(parts)}." if parts else None

    def to_json(self) -> dict:
        return {"sent": len(self.sent), "waiting": self.waiting, "failed": self.failed, "skipped": self.skipped,
                "problem": self.problem}


class Outbox:
    """The outbox in ``out`` as it is now (one listing of ``notify/``)."""

    def __init__(self, out: Storage):
        self.out = out
        self.states: dict[str, set[str]] = {}
        for entry in out.list(PREFIX):
            state, _, name = entry.key[len(PREFIX):].partition("/")
            if state in STATES and name.endswith(".json"):
                self.states.setdefault(name[:-5], set()).add(state)
        text = out.read_text(STARTED)
        self.baseline: set[str] = set(json.loads(text).get("baseline", [])) if text else set()
        self.started = text is not None

    def start(self, baseline, now: float | None = None) -> None:
        """Begin the outbox: the ids in ``baseline`` (messages about what was there before)
        count as known and are never sent."""
        self.baseline = set(baseline)
        self.out.write(STARTED, json.dumps({"started": _stamp(now or time.time()), "baseline": sorted(self.baseline)},
                                           ensure_ascii=False, indent=1).encode("utf-8"), "application/json")
        self.started = True

    def knows(self, message_id: str) -> bool:
        """Was this message recorded before (in any state, or in the baseline)?"""
        return message_id in self.states or message_id in self.baseline

    def _key(self, state: str, message_id: str) -> str:
        return f"{PREFIX}{state}/{message_id}.json"

    def _write(self, state: str, record: dict) -> None:
        self.out.write(self._key(state, record["id"]), json.dumps(record, ensure_ascii=False, indent=1).encode("utf-8"),
                       "application/json")
        self.states.setdefault(record["id"], set()).add(state)

    def _remove(self, state: str, message_id: str) -> None:
        self.out.delete(self._key(state, message_id))
        self.states.get(message_id, set()).discard(state)

    def put(self, message: Message, now: float | None = None) -> None:
        """Record a new message as waiting to be sent (and the messages it covers as told in it)."""
        self._write("waiting", {**message.to_json(), "state": "waiting", "created": _stamp(now or time.time()),
                                "attempts": 0, "last_error": None, "attempt_started": None})
        self._cover(message, now)

    def skip(self, message: Message, why: str, now: float | None = None) -> None:
        """Record a message that is never to be sent (the text is not kept), and what it covers."""
        self._write("skipped", {"id": message.id, "kind": message.kind, "about": message.about, "to": message.to,
                                "subject": message.subject, "state": "skipped", "why": why,
                                "recorded": _stamp(now or time.time())})
        self._cover(message, now)

    def _cover(self, message: Message, now: float | None) -> None:
        """The messages ``message`` stands for are known from now on. Written after the message:
        a run killed in between makes the same message of them again next time (same id, so
        known) rather than losing them."""
        for covered in message.covers:
            if not self.knows(covered):
                self._write("merged", {"id": covered, "into": message.id, "recorded": _stamp(now or time.time())})

    def waiting(self) -> list[dict]:
        """The waiting messages, oldest first (a message also recorded as sent is tidied away)."""
        records = []
        for message_id, states in list(self.states.items()):
            if "waiting" not in states:
                continue
            if states & {"sent", "failed"}:  # killed between the two writes: it was handled
                self._remove("waiting", message_id)
                continue
            text = self.out.read_text(self._key("waiting", message_id))
            if text:
                records.append(json.loads(text))
        return sorted(records, key=lambda r: (r.get("created") or "", r["id"]))

    def deliver(self, sender: Sender | None, unavailable: str = "no SMTP server is set",
                now: float | None = None, link_for=lambda kind, who: None) -> Delivery:
        """Send every waiting message through ``sender`` (None: no server, they keep waiting
        with ``unavailable`` as the reason), each with its person's link from
        ``link_for(kind, who)`` put in only then (a kept message holds no link). A server that
        cannot be reached leaves the rest waiting; a message refused for good is moved to
        ``failed``."""
        def stamp() -> str:
            return _stamp(now if now is not None else time.time())

        done = Delivery()
        records = self.waiting()
        try:
            for i, record in enumerate(records):
                message = Message.from_json(record)
                if sender is None:
                    self._write("waiting", {**record, "last_error": unavailable})
                    done.waiting += 1
                    done.problem = unavailable
                    continue
                interrupted = bool(record.get("attempt_started"))
                record = {**record, "attempt_started": stamp(),
                          "attempts": record.get("attempts", 0) + 1}
                self._write("waiting", record)  # a send is under way
                try:
                    whose = link_of(message)
                    sender.send(with_link(message, link_for(*whose) if whose else None))
                except SendProblem as problem:
                    if problem.lasting:
                        self._write("failed", {k: v for k, v in record.items() if k != "body"}
                                    | {"state": "failed", "last_error": str(problem),
                                       "failed": stamp()})
                        self._remove("waiting", message.id)
                        done.failed += 1
                        continue
                    self._write("waiting", {**record, "attempt_started": None, "last_error": str(problem)})
                    done.waiting += 1
                    done.problem = str(problem)
                    if problem.whole_server:  # the server is away: the others wait too, untried
                        for rest in records[i + 1:]:
                            self._write("waiting", {**rest, "last_error": str(problem)})
                            done.waiting += 1
                        break
                    continue
                self._write("sent", {"id": message.id, "kind": message.kind, "about": message.about, "to": message.to,
                                     "subject": message.subject, "state": "sent",
                                     "created": record.get("created"), "sent": stamp(),
                                     "attempts": record["attempts"], "repeat": interrupted})
                self._remove("waiting", message.id)
                done.sent.append(message.id)
        finally:
            if sender is not None:
                sender.close()
        return done
