"""The ``utkast`` command line. Works out options, runs a flow, prints where things are.

Errors become messages here (and only here): a bad partner file never fails a command;
configuration and infrastructure problems exit non-zero with a clear message.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import sys
from datetime import date

from tasks.core.formats import named_extensions


# Without -v: the run's logs still reach the Prefect server (and its UI); the terminal shows
# only utkast's own progress lines and, on failure, one clear message.
QUIET_CONSOLE = {"PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL": "CRITICAL"}


def _prefect_env(verbose: bool) -> None:
    """Offline-friendly Prefect defaults; must run before Prefect is imported."""
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    if not verbose:
        for key, value in QUIET_CONSOLE.items():
            os.environ.setdefault(key, value)


def _csv(kind):
    def parse(text: str):
        items = [x.strip() for x in text.split(",") if x.strip()]
        try:
            return [kind(x) for x in items]
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a comma-separated list of {kind.__name__}: {text!r}")
    return parse


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="utkast", description="Partner reports in, assembled application draft out.")
    p.add_argument("-v", "--verbose", action="store_true", help="show Prefect's own logs")
    sub = p.add_subparsers(dest="command", required=True)

    def storage_args(sp, inbox=True):
        if inbox:
            sp.add_argument("--inbox", default="inbox", help="folder or s3://bucket/prefix (default: inbox)")
        sp.add_argument("--out", default="outputs", help="folder or s3://bucket/prefix (default: outputs)")

    def run_args(sp):
        sp.add_argument("--no-review", action="store_true", help="skip the language review")
        sp.add_argument("--templates", metavar="DIR", help="the configuration folder (default: templates/)")
        sp.add_argument("--today", type=date.fromisoformat, metavar="YYYY-MM-DD",
                        help="the day to take as today: due dates, reminders (default: today in Stockholm)")

    b = sub.add_parser("build", help="intake, merge and publish a draft")
    storage_args(b)
    run_args(b)
    b.add_argument("--formats", type=_csv(str), help="comma-separated: docx,pdf,html")
    b.add_argument("--packages", type=_csv(int), help="comma-separated paket numbers, e.g. 1,3")

    i = sub.add_parser("intake", help="normalise (and review) new reports only")
    storage_args(i)
    run_args(i)

    r = sub.add_parser("review", help="review one document and print the findings")
    r.add_argument("file", help="a report: " + " ".join(named_extensions()))
    r.add_argument("--json", action="store_true", help="print the findings as JSON")
    r.add_argument("--out", help="also write <name>.granskning.html/.docx/.json into this folder")

    s = sub.add_parser("status", help="print the tracker (partner × piece)")
    storage_args(s, inbox=False)

    w = sub.add_parser("watch", help="watch a local inbox; tell Prefect (PREFECT_API_URL) when files arrive")
    storage_args(w)
    d = sub.add_parser("diff", help="compare two published drafts (changelog, redline .docx and html)")
    d.add_argument("version_a", metavar="VERSION_A", help="the older draft (a version, a unique prefix or 'latest')")
    d.add_argument("version_b", metavar="VERSION_B", help="the newer draft")
    storage_args(d, inbox=False)

    v = sub.add_parser("serve", help="the partners' and reviewers' pages (personal links, uploads)")
    storage_args(v)
    v.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1; put a TLS proxy in front)")
    v.add_argument("--port", type=int, default=8080, help="port (default: 8080)")

    n = sub.add_parser("invite", help="print a partner's or a reviewer's personal link")
    n.add_argument("slug", nargs="?", metavar="SLUG", help="the partner (a slug of templates/partners.toml)")
    n.add_argument("--reviewer", metavar="NAME", help='a reviewer instead, by name: --reviewer "Anna Svensson"')
    storage_args(n, inbox=False)
    n.add_argument("--base-url", help="where `utkast serve` is reached (default: $UTKAST_PORTAL_URL, else [portal] url "
                                      "of settings.toml, else the running stack's portal, else http://127.0.0.1:8080)")
    n.add_argument("--rotate", action="store_true", help="make a new link; the old one stops working at once")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    _prefect_env(args.verbose)
    from flows.progress import terminal_output

    with terminal_output(args.verbose):
        return _run(args)


def _run(args) -> int:
    from tasks.core.errors import (
        ConfigError,
        PersonalDataFound,
        StorageError,
        UtkastError,
    )

    try:
        return COMMANDS[args.command](args)
    except ConfigError as exc:
        print(f"utkast: configuration error in {exc}", file=sys.stderr)
        return 2
    except StorageError as exc:
        print(f"utkast: storage problem: {exc}", file=sys.stderr)
        return 3
    except PersonalDataFound as exc:
        print(f"utkast: no draft published: {exc}", file=sys.stderr)
        return 5
    except UtkastError as exc:
        print(f"utkast: {exc}", file=sys.stderr)
        return 1


def _checked_config(templates: str | None = None):
    """Every file in templates/ (or ``templates``), validated before Prefect is imported: a typo
    fails at once."""
    from tasks.core.config import load_config
    from tasks.review.settings import check_templates

    config = load_config(templates)
    check_templates(config)
    return config


def _use_server(say: bool = True) -> None:
    """Point Prefect at the server this command should use (flows/prefect_api.py), before it
    is imported; say in one line when there is none and a temporary one is started."""
    from flows.prefect_api import TEMPORARY_HINT, find_server

    choice = find_server()
    os.environ.update(choice.settings)
    if "prefect.context" in sys.modules:  # loaded before this command's settings were known (flows/warm.py)
        sys.modules["prefect.context"].refresh_global_settings_context()
    if choice.source == "temporary" and say:
        print(TEMPORARY_HINT, file=sys.stderr, flush=True)


def _in_process(flow, **parameters) -> dict:
    """Run ``flow`` in this process, without Prefect's heartbeat thread. Heartbeats let the
    stack's automations find a dead worker's run (flows/recovery.py: runs of the deployments,
    tagged ``utkast``); a run of the command line is not one of them (Ctrl-C or a kill ends it
    with the command), and the thread held every command's end by up to a second while it
    slept (Prefect joins it at the end of the run)."""
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        return flow(**parameters)


def cmd_build(args) -> int:
    config = _checked_config(args.templates)
    from flows.storage import open_storage
    from tasks.core.templating import stockholm_today
    from tasks.draft.merge import selected_paket
    from tasks.draft.render import ensure_formats
    from tasks.draft.stamp import build_options, unchanged_build

    selected_paket(config, args.packages)  # plain messages before Prefect checks the types
    formats = ensure_formats(list(args.formats or config.settings.formats))
    today = args.today or stockholm_today()
    # Nothing changed since the last build ended (tasks/draft/stamp.py): say so without starting a run.
    result = unchanged_build(open_storage(args.inbox), open_storage(args.out), config,
                             build_options(formats, args.packages, not args.no_review, today))
    if result is None:
        _use_server()
        from flows.build import build_draft

        result = _in_process(build_draft, inbox=args.inbox, out=args.out, review=not args.no_review,
                             formats=args.formats, packages=args.packages, templates=args.templates, today=today)
    counts = result["counts"]
    print()
    if result["published"]:
        print(f"Draft {result['version']} published.")
    else:
        print(f"Nothing new since draft {result['version']}; no new draft published.")
    for fmt, where in result["draft"].items():
        print(f"  {fmt:5} {where}")
    print(f"  reviewers' page: {result['index']}")
    print(f"  tracker:         {result['status']}")
    print(f"  changes:         {result['changes_page']}")
    print(f"  review points:   {result['feedback_page']}")
    print(f"{counts['pieces_received']} of {counts['pieces_total']} pieces received; "
          f"{counts['accepted']} reports in the draft, {counts['rejected']} files rejected, "
          f"{result['converted']} converted in this run.")
    if result["missing"]:
        print(f"Missing: {', '.join(result['missing'])}")
    if result.get("pending_reviews"):
        print(f"Language review pending (checker unavailable) for: {', '.join(result['pending_reviews'])}")
    _print_personal(result)
    if result.get("email_line"):
        print(result["email_line"])
    return 0


def _print_personal(result: dict) -> None:
    """Which reports hold personal data: kinds and counts, never the values."""
    if result.get("personal"):
        verb = "masked in the draft" if result.get("personal_action") != "stop" else "found"
        print(f"Personal data {verb} (the partners' review reports show where):")
        for entry in result["personal"]:
            print(f"  {entry['label']}: {entry['counts']}")


def cmd_intake(args) -> int:
    _checked_config(args.templates)
    _use_server()
    from flows.intake import intake

    result = _in_process(intake, inbox=args.inbox, out=args.out, review=not args.no_review,
                         templates=args.templates, today=args.today)
    print(f"{result['converted']} converted, {result['reports']} reports in, {result['rejected']} rejected.")
    print(f"tracker: {result['status']}")
    if result.get("pending_reviews"):
        print(f"Language review pending (checker unavailable) for: {', '.join(result['pending_reviews'])}")
    _print_personal(result)
    if result.get("email_line"):
        print(result["email_line"])
    return 0


def cmd_review(args) -> int:
    from pathlib import Path

    from tasks.core.config import load_config
    from tasks.core.errors import CheckerUnavailable, Rejected
    from tasks.intake.reasons import explain
    from tasks.review.run import review_at_desk

    path = Path(args.file)
    if not path.is_file():
        print(f"utkast: no such file: {path}", file=sys.stderr)
        return 1
    config = load_config()
    try:
        review = review_at_desk(path, config, Path(args.out) if args.out else None)
    except Rejected as err:
        print(f"{path.name}: {explain(err, valid_pieces=list(config.outline.pieces), partners=[])}", file=sys.stderr)
        return 1
    except CheckerUnavailable as exc:
        print(f"utkast: the language checker is not available: {exc}", file=sys.stderr)
        return 4
    if args.json:
        print(json.dumps(review.json, ensure_ascii=False, indent=2))
    else:
        print(review.text)
        if review.written:
            print(f"\nWritten: {Path(args.out) / (path.stem + '.granskning')}.html, .docx, .json")
    return 0


def cmd_status(args) -> int:
    from flows.prefect_api import upload_processing
    from flows.storage import open_storage
    from tasks.intake.tracker import tracker_table

    out = open_storage(args.out)
    text = out.read_text("status.json")
    processing = upload_processing()  # the server this terminal's commands would use
    print(f"{'Uploads' if processing.ok else 'Warning'}: {processing.line}.", file=sys.stdout if processing.ok
          else sys.stderr)
    if text is None:
        print(f"No tracker yet in {out.describe()}: run 'utkast intake' or 'utkast build' first.", file=sys.stderr)
        return 1
    rows = tracker_table(json.loads(text))
    widths = [min(max(len(r[i]) for r in rows), 48) for i in range(len(rows[0]))]
    for n, row in enumerate(rows):
        print("  ".join(cell[:w].ljust(w) for cell, w in zip(row, widths)).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))
    return 0


def cmd_watch(args) -> int:
    _use_server(say=False)  # watching needs a server: check_api says so when there is none
    from flows.watch import check_api, watch_inbox

    api = check_api()
    _stop_on_sigterm()
    print(f"Watching {os.path.abspath(args.inbox)}; events go to {api}. Stop with Ctrl-C.", flush=True)
    try:
        watch_inbox(args.inbox, args.out, on_arrival=lambda key: print(f"arrived: {key}", flush=True))
    except KeyboardInterrupt:
        pass
    print("Stopped watching.", flush=True)
    return 0


def _stop_on_sigterm() -> None:
    """Take SIGTERM (a service manager's stop, `kill`) as Ctrl-C: the watcher then sends the
    events it still holds before it ends. By default SIGTERM ends Python at once, without
    them. (Started from a script with `&`, a process ignores Ctrl-C; SIGTERM still stops it.)"""
    import signal

    def stop(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)


def cmd_diff(args) -> int:
    from flows.storage import open_storage
    from tasks.core.config import load_config
    from tasks.draft.index import write_index
    from tasks.roundtrip.changes import changes_markdown, compare_versions

    out, config = open_storage(args.out), load_config()
    result = compare_versions(out, config, args.version_a, args.version_b)
    write_index(out, config, config.settings.link_seconds)  # the reviewers' page lists the new comparison
    print(f"Draft {result['to']} compared with draft {result['from']}:")
    for fmt, key in result["files"].items():
        print(f"  {fmt:5} {out.href(key)}")
    print()
    print(changes_markdown(result), end="")
    return 0


def cmd_serve(args) -> int:
    _use_server(say=False)  # uploads tell the stack's server (when it runs) that a file arrived
    from flows.serve import serve

    def ready(url: str) -> None:
        print(f"Serving the partners' and reviewers' pages at {url} (inbox {args.inbox}, outputs {args.out}). "
              "Stop with Ctrl-C.", flush=True)

    try:
        serve(args.inbox, args.out, args.host, args.port, ready=ready)
    except KeyboardInterrupt:
        pass
    return 0


def cmd_invite(args) -> int:
    from flows.storage import open_storage
    from tasks.core.config import load_config
    from flows.prefect_api import portal_url
    from tasks.portal.links import PARTNER, REVIEWER, issue_link, load_key, partner_slug, personal_url, reviewer_name

    if bool(args.slug) == bool(args.reviewer):
        print("utkast: give either a partner's SLUG or --reviewer NAME", file=sys.stderr)
        return 2
    config = load_config()
    if args.slug:
        kind, name = PARTNER, partner_slug(config, args.slug)
        who = f"{config.registry.by_slug(name).name} ({name})"
    else:
        kind, name = REVIEWER, reviewer_name(args.reviewer)
        who = f"reviewer {name}"
    out = open_storage(args.out)
    token, link = issue_link(out, kind, name, load_key(create=True), rotate=args.rotate)
    print(f"Personal link for {who}, generation {link.generation}:")
    print(personal_url(args.base_url or portal_url(config.settings.portal.url), token))
    if args.rotate and link.generation > 1:
        print("The previous link no longer works.")
    return 0


COMMANDS = {"build": cmd_build, "intake": cmd_intake, "review": cmd_review, "status": cmd_status,
            "diff": cmd_diff, "watch": cmd_watch, "serve": cmd_serve, "invite": cmd_invite}

_EXIT_CODE: list[int] = []


def run() -> None:
    """The ``utkast`` command: :func:`main` in a process of its own, left at once when it is done."""
    atexit.register(_leave_at_once)  # registered first, so it runs after every other exit handler
    from flows.handover import CTRL_C_EXIT, hand_over, interrupted

    code = hand_over(sys.argv[1:])  # in the running stack's warm process, when there is one
    if code is None:
        try:
            code = main() or 0
        except Exception as exc:
            if not interrupted(exc):
                raise
            code = CTRL_C_EXIT  # Prefect's error from inside Ctrl-C: stopped by Ctrl-C all the same
    _EXIT_CODE.append(code)
    sys.exit(code)


def _leave_at_once() -> None:
    """End the process once a command has returned and every exit handler has run (Prefect's
    flushes of logs and events, logging's), without Python's teardown of each loaded module:
    with Prefect loaded that took 0.27-0.32 s of every command, and nothing in it is for the
    user (files are written whole and closed by then). An exception or Ctrl-C leaves the
    ordinary way."""
    if _EXIT_CODE:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_EXIT_CODE[0])


if __name__ == "__main__":
    run()
