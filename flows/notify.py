"""E-mail in the flows: tasks after the intake and after a build, and the hook that tells
the coordinator of a failed run (the plain functions are in :mod:`tasks.notify.run`).

A failed or crashed run reaches the coordinator through a flow hook (``on_failure`` and
``on_crashed`` of both flows) rather than a Prefect automation: the hook runs in the run's
own process, with the run's outputs and the worker's environment (the SMTP server and
password), works the same with ``utkast build`` in a terminal, with a temporary Prefect
server and with the coordinator's stack, and is tested end to end; an automation would need
the SMTP password in a Prefect block on the server and a running server to fire at all.
"""

from __future__ import annotations

import threading
from datetime import date
from pathlib import Path
from typing import Callable

from prefect import task
from prefect.cache_policies import NONE
from prefect.utilities.annotations import quote

from flows.policies import IO_TASK
from flows.prefect_api import portal_url
from flows.progress import log, progress
from tasks.core.config import Config
from tasks.core.errors import StorageError
from tasks.notify.outbox import Delivery
from tasks.notify.run import after_build, after_failure, after_harvest, after_intake
from tasks.portal.links import current_link
from tasks.storage.base import Storage


@task(name="after_intake", cache_policy=NONE, **IO_TASK)
def after_intake_task(*args, **kwargs) -> Delivery | None:
    """:func:`tasks.notify.run.after_intake`; storage problems are retried like any I/O, and
    nothing else about e-mail ever stops a run (it is logged)."""
    return _carry_on(after_intake, *args, **kwargs)


@task(name="after_build", cache_policy=NONE, **IO_TASK)
def after_build_task(*args, **kwargs) -> Delivery | None:
    """:func:`tasks.notify.run.after_build`, like :func:`after_intake_task`."""
    return _carry_on(after_build, *args, **kwargs)


@task(name="after_harvest", cache_policy=NONE, **IO_TASK)
def after_harvest_task(*args, **kwargs) -> Delivery | None:
    """:func:`tasks.notify.run.after_harvest`, like :func:`after_intake_task`."""
    return _carry_on(after_harvest, *args, **kwargs)


def _carry_on(step, *args, **kwargs) -> Delivery | None:
    try:
        return step(*args, **kwargs)
    except StorageError:
        raise
    except Exception:
        log.exception("e-mail: %s failed; the run goes on", step.__name__)
        return None


def link_maker(out: Storage, config: Config) -> Callable[[str, str], str | None]:
    """How messages get a person's current link to their own page (``kind`` "partner" with
    a slug, or "reviewer" with a name): re-derived by :func:`tasks.portal.links.current_link`
    where this machine has the links' key, else None (the message then points to the
    personal link of the invitation). The address is :func:`flows.prefect_api.portal_url`'s."""
    base = portal_url(config.settings.portal.url)

    def personal_link(kind: str, who: str) -> str | None:
        if kind == "partner":
            return current_link(out, base, partner=who)
        return current_link(out, base, reviewer=who)

    return personal_link


class PartnerMail:
    """The partners' e-mail of one intake: one message per partner. The receipts wait while
    the language review runs, so that a file's receipt and its review come in one message;
    when the review takes longer than ``[email] hold_receipt_seconds`` after the verdicts,
    the receipts go then (from a timer thread, as plain functions) and the reviews follow."""

    def __init__(self, out: Storage, config: Config, known_before: set, today: date, points: list[dict] = ()):
        self.out, self.config, self.known_before, self.today, self.points = out, config, known_before, today, points
        self.link_for = link_maker(out, config)
        self.lock = threading.Lock()
        self.closed, self.timer, self.early, self.verdicts = False, None, None, None

    def hold(self, files, reports, personal: dict, shown: dict) -> None:
        """Every file has its verdict and the review starts: send the receipts when the hold
        ends, unless :meth:`send` came first."""
        self.verdicts = (files, reports, personal, shown)
        seconds = self.config.settings.email.hold_receipt_seconds
        if seconds <= 0:
            self._send_receipts()
            return
        self.timer = threading.Timer(seconds, self._send_receipts)
        self.timer.daemon = True
        self.timer.start()

    def _send_receipts(self) -> None:
        with self.lock:
            if self.closed:
                return
            files, reports, personal, shown = self.verdicts
            try:  # never begins the outbox: the first run with e-mail on sends all at the end
                self.early = after_intake(self.out, self.config, files, reports, {}, personal, shown,
                                          self.known_before, self.today, self.link_for, begin=False)
            except Exception:
                log.exception("e-mail: the receipts could not be sent before the review ended; they go with it")

    def stop_holding(self) -> Delivery | None:
        """No early receipts from now on; what went out early, if anything."""
        with self.lock:  # waits for a send under way
            self.closed = True
            if self.timer is not None:
                self.timer.cancel()
            return self.early

    def send(self, files, reports, reviews: dict, personal: dict, shown: dict) -> Delivery | None:
        """Everything new, the reviews included (what went out early is known by now)."""
        early = self.stop_holding()
        final = after_intake_task(self.out, self.config, quote(files), quote(reports), quote(reviews),
                                  quote(personal), quote(shown), quote(self.known_before), self.today,
                                  self.link_for, points=quote(list(self.points)))
        if early and final:
            return early.then(final)
        return final or early


def say_delivery(delivery: Delivery | None) -> None:
    """One line in the run log and on the terminal when messages went out or wait."""
    line = delivery.line_sv() if delivery else None
    if line:
        progress("%s", line)


def notify_failed_run(flow, flow_run, state) -> None:
    """``on_failure``/``on_crashed`` hook: an e-mail to the coordinator. Never raises; what
    cannot be sent is logged."""
    try:
        import tasks.core.config as configuration
        from flows.storage import open_storage
        from tasks.core.config import load_config, load_people, load_settings
        from tasks.personal.rules import load_rules

        templates = Path(flow_run.parameters.get("templates") or configuration.default_templates())
        try:  # the failure may be a mistake in templates/: then only what e-mail needs
            config = load_config(templates)
            settings, people, project = config.settings, config.people, config.outline.project
            rules = load_rules(config.templates, config.registry)
        except Exception:
            settings = load_settings(templates / "settings.toml")
            people = load_people(templates / "people.toml")
            project, rules = "", None
        try:
            out = open_storage(flow_run.parameters.get("out", "outputs"))
        except Exception:
            out = None
        delivery = after_failure(out, settings.email, people, project, run_id=str(flow_run.id), flow=flow.name,
                                 run_name=flow_run.name, problem=state.message or state.name, ui_link=_run_url(flow_run),
                                 rules=rules)
        if delivery and delivery.problem and not delivery.sent:
            log.warning("the coordinator could not be told of the failed run: %s", delivery.problem)
    except Exception:
        log.exception("the failed-run e-mail could not be made")


def _run_url(flow_run) -> str | None:
    try:
        from prefect.utilities.urls import url_for

        return url_for(flow_run)
    except Exception:
        return None
