"""The Swedish language checker, behind one small interface with two implementations.

- :class:`EmbeddedChecker` (the default): LanguageTool's Swedish rules in-process through
  LingoTweaker (``lt_py``); no Java, no network. Long work is spread over worker processes,
  one engine each (the engine releases the GIL only partly, so threads do not scale).
- :class:`ServerChecker`: a LanguageTool HTTP server through language-tool-python, for
  organisations that run their own (or pay for the LanguageTool API).

:func:`open_checker` is the one place that picks between them: the server only when
``LANGUAGETOOL_URL`` is set, so report text never leaves the machine by default.

Both take a list of plain texts (paragraphs) and return, per text, :class:`Finding` objects
with character offsets into that text (LingoTweaker reports UTF-8 byte offsets, a
LanguageTool server UTF-16 code units; both are converted here). A checker that cannot
be loaded or reached raises :class:`~tasks.core.errors.CheckerUnavailable`.
"""

from __future__ import annotations

import bisect
import hashlib
import http.client
import json
import logging
import os
import re
import shutil
import tempfile
import threading
import time
import urllib.parse
from abc import ABC, abstractmethod
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path

from tasks.core.errors import CheckerUnavailable
from tasks.core.parallel import process_pool

log = logging.getLogger("utkast")

ENV_URL = "LANGUAGETOOL_URL"
ENV_USERNAME = "LANGUAGETOOL_USERNAME"
ENV_API_KEY = "LANGUAGETOOL_API_KEY"

# Blocks of one request to a server are joined with a blank line (a paragraph break).
REQUEST_SEPARATOR = "\n\n"  # between paragraphs packed into one server request


SUGGESTION_TAG = re.compile(r"<suggestion>(.*?)</suggestion>", re.S)


def plain_message(message: str) -> str:
    """A rule's message as people read it: its ``<suggestion>x</suggestion>`` markup (the rule
    format's) shown as ”x”, as LanguageTool's own API does."""
    return SUGGESTION_TAG.sub("”\\1”", message)


@dataclass
class Finding:
    """One thing the checker noticed, at ``offset``/``length`` characters into the checked text."""

    offset: int
    length: int
    message: str
    rule_id: str
    category_id: str
    category_name: str
    issue_type: str
    suggestions: list[str] = field(default_factory=list)
    short_message: str = ""
    description: str = ""
    sentence: str = ""

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class CheckerTuning:
    """How the checkers run (from ``templates/review.toml``: ``[embedded]`` and ``[server]``)."""

    language: str = "sv-SE"
    disabled_rules: tuple[str, ...] = ()
    workers: int = 0
    min_words_for_workers: int = 1500
    max_parallel_requests: int = 2
    timeout_seconds: float = 60
    retries: int = 2
    retry_delay_seconds: float = 1
    max_request_chars: int = 20000
    #: Extra words the embedded engine's speller accepts (the project dictionary's forms).
    spelling_words: tuple[str, ...] = ()
    #: The project's own rule files (LanguageTool's XML rule format), added to the engine's rules.
    rule_files: tuple[str, ...] = ()


class Checker(ABC):
    """Checks plain texts; one list of findings per text, offsets in characters."""

    #: Identifies the rules that produce the findings (part of the review cache key).
    engine_id: str
    #: For people: what checked the text.
    description: str

    @abstractmethod
    def check(self, texts: list[str]) -> list[list[Finding]]:
        """Findings per text, in the order of ``texts``. Raises ``CheckerUnavailable``."""

    def prepare(self, words: int) -> None:
        """A hint that about ``words`` words are coming (lets a checker warm up in advance)."""

    def close(self) -> None:
        """Release processes and connections."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# --- offsets ----------------------------------------------------------------------------


def byte_to_char(text: str, byte_offsets: list[int]) -> list[int]:
    """Character positions in ``text`` of the given UTF-8 byte offsets."""
    if text.isascii():
        return list(byte_offsets)
    return _positions(text, byte_offsets, lambda ch: len(ch.encode("utf-8")))


def utf16_to_char(text: str, unit_offsets: list[int]) -> list[int]:
    """Character positions in ``text`` of the given UTF-16 code-unit offsets (Java strings)."""
    if not _ASTRAL.search(text):
        return list(unit_offsets)
    return _positions(text, unit_offsets, lambda ch: 2 if ord(ch) > 0xFFFF else 1)


def char_to_utf16(text: str, char_offsets: list[int]) -> list[int]:
    """UTF-16 code-unit offsets of the given character positions (what a server reports)."""
    return [len(text[:c].encode("utf-16-le")) // 2 for c in char_offsets]


_ASTRAL = re.compile("[\U00010000-\U0010FFFF]")


def _positions(text: str, offsets: list[int], width) -> list[int]:
    """Map offsets in some encoding's units to character positions (one pass over the text)."""
    starts = [0]  # starts[i] = units before character i
    for ch in text:
        starts.append(starts[-1] + width(ch))
    return [bisect.bisect_left(starts, o) for o in offsets]


# --- the embedded engine ---------------------------------------------------------------------

_WORKER_ENGINE = None


def _load_engine(language: str, disabled_rules: tuple[str, ...], data_dir: str | None):
    try:
        import lt_py
    except ImportError as exc:
        raise CheckerUnavailable(f"the Swedish checker (lingotweaker) is not installed: {exc}") from exc
    kwargs = {"disabled_rules": list(disabled_rules)}
    if data_dir:
        kwargs["data_dir"] = data_dir
    try:
        return lt_py.Engine(language, **kwargs)
    except Exception as exc:  # whatever the binding raises, the checker cannot run
        raise CheckerUnavailable(f"the Swedish checker could not load its rules: {exc}") from exc


def rule_data_dir(language: str, words: tuple[str, ...], base: str | None = None,
                  rule_files: tuple[str, ...] = ()) -> str | None:
    """The Swedish rule data, with ``words`` added to the speller's list of accepted words and
    the project's ``rule_files`` added to the grammar rules.

    LanguageTool reads extra words from ``<lang>/hunspell/spelling.txt``. Accepting the
    project's names there (not only filtering findings afterwards) matters for speed too:
    the speller spends ~0.1 s looking for suggestions for every unknown word. The engine
    reads its pattern rules from ``<lang>/rules/grammar.xml``; the categories of each project
    rule file are added at its end. The copy is a folder of links to the installed data,
    made once per word list and rule set in the temp folder.
    """
    if not words and not rule_files:
        return base
    lang = language.split("-")[0]
    if base is None:
        try:
            data = __import__(f"lingotweaker_data_{lang}")
        except ImportError as exc:
            raise CheckerUnavailable(f"the rule data (lingotweaker-data-{lang}) is not installed: {exc}") from exc
        base = data.data_dir()
    source = Path(base)
    spelling = Path(lang, "hunspell", "spelling.txt")
    grammar = Path(lang, "rules", "grammar.xml")
    if not (source / lang).is_dir():
        return base  # not a rule tree we understand; the engine reports the problem
    rules = [Path(f).read_text(encoding="utf-8") for f in rule_files]
    digest = hashlib.sha256("\n".join([str(source.resolve()), embedded_version(), *sorted(words), *rules]).encode())
    target = Path(tempfile.gettempdir()) / f"utkast-lt-data-{digest.hexdigest()[:16]}"
    if (target / ".complete").is_file() and target.stat().st_uid == os.getuid():
        return str(target)
    tmp = Path(tempfile.mkdtemp(prefix="utkast-lt-data-"))
    for path in source.rglob("*"):
        rel = path.relative_to(source)
        if path.is_dir():
            (tmp / rel).mkdir(parents=True, exist_ok=True)
        elif rel != spelling and not (rel == grammar and rules):
            try:
                os.symlink(path.resolve(), tmp / rel)
            except OSError:
                shutil.copyfile(path, tmp / rel)
    original = (source / spelling).read_text(encoding="utf-8") if (source / spelling).is_file() else ""
    (tmp / spelling).parent.mkdir(parents=True, exist_ok=True)
    (tmp / spelling).write_text(original.rstrip("\n") + "\n# utkast: templates/review.toml\n"
                                + "\n".join(sorted(words)) + "\n", encoding="utf-8")
    if rules:
        (tmp / grammar).parent.mkdir(parents=True, exist_ok=True)
        (tmp / grammar).write_text(merge_rules((source / grammar).read_text(encoding="utf-8"), rules),
                                   encoding="utf-8")
    (tmp / ".complete").write_text("")
    try:
        os.rename(tmp, target)
    except OSError:  # made by another process meanwhile, or not ours: use our own copy
        return str(target) if (target / ".complete").is_file() and target.stat().st_uid == os.getuid() else str(tmp)
    return str(target)


def merge_rules(grammar: str, extra: list[str]) -> str:
    """``grammar`` (a LanguageTool rule file) with the ``<category>`` elements of each file in
    ``extra`` added before its closing ``</rules>``."""
    body = []
    for text in extra:
        start = re.search(r"<rules\b[^>]*>", text)
        end = text.rfind("</rules>")
        if not start or end < 0:
            raise CheckerUnavailable("a project rule file has no <rules> element")
        body.append(text[start.end():end])
    close = grammar.rfind("</rules>")
    return grammar[:close] + "\n".join(body) + "\n" + grammar[close:]


def rules_digest(rule_files: tuple[str, ...]) -> str:
    """A short digest of the project's rule files (part of what identifies the checker)."""
    h = hashlib.sha256()
    for f in rule_files:
        h.update(Path(f).read_bytes())
    return h.hexdigest()[:12]


def check_with_engine(engine, text: str) -> list[Finding]:
    """Run one engine over one text; convert its byte offsets to characters."""
    if not text.strip():
        return []
    try:
        result = json.loads(engine.check_json(text))
    except Exception as exc:  # the engine failed (a panic in the binding): not this text's fault
        raise CheckerUnavailable(f"the Swedish checker failed: {exc}") from exc
    matches = result.get("matches", [])
    if not matches:
        return []
    sentences = result.get("sentences", [])
    bounds = [b for m in matches for b in (m["range"]["start"], m["range"]["end"])]
    bounds += [b for s in sentences for b in (s["range"]["start"], s["range"]["end"])]
    chars = dict(zip(bounds, byte_to_char(text, bounds)))
    findings = []
    for m in matches:
        start, end = chars[m["range"]["start"]], chars[m["range"]["end"]]
        sentence = next((text[chars[s["range"]["start"]]:chars[s["range"]["end"]]].strip()
                         for s in sentences if s["range"]["start"] <= m["range"]["start"] < s["range"]["end"]), "")
        findings.append(Finding(
            offset=start, length=end - start, message=plain_message(m.get("message", "")), rule_id=m.get("rule_id", ""),
            category_id=m.get("category_id", ""), category_name=m.get("category_name", ""),
            issue_type=m.get("issue_type", ""), suggestions=[s["value"] for s in m.get("suggestions", [])],
            short_message=m.get("short_message") or "", description=m.get("description") or "",
            sentence=sentence))
    return findings


def _worker_init(language: str, disabled_rules: tuple[str, ...], data_dir: str | None) -> None:
    global _WORKER_ENGINE
    _WORKER_ENGINE = _load_engine(language, disabled_rules, data_dir)


def _worker_check(texts: list[str]) -> list[list[dict]]:
    return [[f.to_json() for f in check_with_engine(_WORKER_ENGINE, t)] for t in texts]


def embedded_version() -> str:
    versions = []
    for name in ("lingotweaker", "lingotweaker-data-sv"):
        try:
            versions.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{name} (not installed)")
    return " + ".join(versions)


class EmbeddedChecker(Checker):
    """LanguageTool's Swedish rules in this process and, for long work, in worker processes."""

    def __init__(self, tuning: CheckerTuning = CheckerTuning(), data_dir: str | None = None):
        self.tuning = tuning
        self.data_dir = data_dir
        self.engine_id = f"embedded {embedded_version()} {tuning.language}" + (
            f" rules {rules_digest(tuning.rule_files)}" if tuning.rule_files else "")
        self.description = f"LanguageTools svenska regler (LingoTweaker, {embedded_version()}), på den här datorn"
        self._engine = None
        self._pool = None
        self._lock = threading.Lock()

    @property
    def workers(self) -> int:
        return self.tuning.workers or max(1, min(os.cpu_count() or 1, 8))

    def engine(self):
        """The in-process engine (loaded once; also proves the rules load)."""
        with self._lock:
            if self._engine is None:
                self._data = rule_data_dir(self.tuning.language, self.tuning.spelling_words, self.data_dir,
                                           self.tuning.rule_files)
                self._engine = _load_engine(self.tuning.language, self.tuning.disabled_rules, self._data)
            return self._engine

    def _start_pool(self):
        self.engine()  # fail here, clearly, rather than with a broken pool
        with self._lock:
            if self._pool is None:
                self._pool = process_pool(self.workers, _worker_init,
                                          (self.tuning.language, self.tuning.disabled_rules, self._data))
            return self._pool

    def prepare(self, words: int) -> None:
        if self.workers > 1 and words >= self.tuning.min_words_for_workers:
            self._start_pool()

    def check(self, texts: list[str]) -> list[list[Finding]]:
        words = sum(len(t.split()) for t in texts)
        if self.workers > 1 and (self._pool is not None or words >= self.tuning.min_words_for_workers):
            return self._check_in_pool(texts, words)
        engine = self.engine()
        return [check_with_engine(engine, t) for t in texts]

    def _check_in_pool(self, texts: list[str], words: int) -> list[list[Finding]]:
        from concurrent.futures.process import BrokenProcessPool

        pool = self._start_pool()
        # A few chunks per worker, of at least a few hundred words: enough to balance uneven
        # paragraphs, few enough that passing them between processes costs next to nothing.
        chunks = split_evenly(texts, max(1, min(self.workers * 4, words // CHUNK_WORDS)), words)
        try:
            parts = list(pool.map(_worker_check, chunks))
        except BrokenProcessPool as exc:
            with self._lock:
                self._pool = None
            raise CheckerUnavailable(f"a checker process stopped: {exc}") from exc
        return [[Finding(**d) for d in found] for part in parts for found in part]

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


CHUNK_WORDS = 250


def split_evenly(texts: list[str], parts: int, words: int | None = None) -> list[list[str]]:
    """Consecutive groups of ``texts`` with about the same number of words each."""
    if words is None:
        words = sum(len(t.split()) for t in texts)
    target = max(1, words // max(1, parts))
    chunks, current, count = [], [], 0
    for t in texts:
        current.append(t)
        count += len(t.split())
        if count >= target:
            chunks.append(current)
            current, count = [], 0
    if current:
        chunks.append(current)
    return chunks


# --- a LanguageTool server ----------------------------------------------------------------


class ServerIOError(Exception):
    """A request to the server failed on the network (worth retrying)."""


def _remote_client(url: str, tuning: CheckerTuning, account: dict[str, str]):
    """language-tool-python's remote-server client for the server at ``url`` (the address before
    ``v2/``, ending in ``/``: the library adds ``v2/``), connected (its languages read).

    Imported here, not at the top: only a run with ``LANGUAGETOOL_URL`` set needs it. The
    subclass adds what the library has no public setting for; each is one of its request hooks,
    so the version is pinned (pyproject.toml) and tests/test_review_server.py runs every one
    against a server that speaks LanguageTool's protocol:

    - a paid account's ``username`` and ``apiKey`` in every request (``_create_params``);
    - the request timeout of ``review.toml`` (``_TIMEOUT``; the library's is 300 s);
    - the whole ``/v2/check`` answer, with the server's version, tried once (``_query_server``
      with ``num_tries=1``): retries are utkast's, so a refusal is not sent again and a server
      found down fails fast.
    """
    import language_tool_python

    # The library logs each request's address at debug level; an address may carry a password.
    logging.getLogger("language_tool_python").setLevel(logging.INFO)

    class RemoteLanguageTool(language_tool_python.LanguageTool):
        _TIMEOUT = tuning.timeout_seconds

        def _create_params(self, text: str) -> dict[str, str]:
            return {**super()._create_params(text), **account}

        def answer(self, text: str) -> dict:
            """The server's JSON answer to ``POST /v2/check`` for ``text``."""
            return self._query_server(urllib.parse.urljoin(self._url, "check"), self._create_params(text),
                                      num_tries=1, method="post")

    client = RemoteLanguageTool(tuning.language, remote_server=url)
    client.disabled_rules = set(tuning.disabled_rules)
    return client


class ServerChecker(Checker):
    """A LanguageTool server, through language-tool-python's remote-server client.

    The library connects (``GET /v2/languages``: the server must offer our language, or no
    text is sent), builds each request and sends it (``POST /v2/check``); see
    :func:`_remote_client` for what utkast adds to it. Paragraphs are sent together in requests
    of up to ``max_request_chars``; at most ``max_parallel_requests`` are in flight at once
    (for all documents of this checker). Network failures are retried; a refusal is not; once
    the server is found unreachable every later call fails fast with ``CheckerUnavailable``.
    Offsets in the answer (UTF-16 code units) are converted here (:func:`split_matches`).
    """

    def __init__(self, url: str, tuning: CheckerTuning = CheckerTuning(), username: str | None = None,
                 api_key: str | None = None):
        self.url = url
        # What reports, logs, messages and cache keys name: never a password in the URL
        # (a server behind a proxy with basic authentication) or the API key.
        self.shown = url_without_credentials(url)
        parts = urllib.parse.urlsplit(url if "://" in url else f"http://{url}")
        self.api_url = api_base(url_without_credentials(parts.geturl()))
        # What the library is given: the address before v2/, with any credentials in it (sent as
        # basic authentication).
        self._address = api_base(parts.geturl()).removesuffix("v2/")
        self._secrets = [s for s in (parts.netloc.rpartition("@")[0], parts.password, api_key) if s]
        self.tuning = tuning
        self.username, self.api_key = username, api_key
        # A paid account: both or neither (a user name alone is not an account).
        self._account = {"username": username, "apiKey": api_key} if username and api_key else {}
        self.engine_id = f"server {self.shown} {tuning.language}"
        self.description = f"LanguageTool-server {self.shown}"
        self.server_version = ""
        self._client = None
        self._lock = threading.Lock()
        self._gate = threading.BoundedSemaphore(tuning.max_parallel_requests)
        self._down: str | None = None

    def _retrying(self, what, action):
        """Run ``action`` retrying network failures only; raise CheckerUnavailable at the end."""
        if self._down:
            raise CheckerUnavailable(self._down)
        attempts = 1 + self.tuning.retries
        for attempt in range(attempts):
            try:
                return action()
            except ServerIOError as exc:
                if attempt + 1 == attempts:
                    self._down = f"LanguageTool server {self.shown} did not answer ({what}): {self._clean(exc)}"
                    raise CheckerUnavailable(self._down) from exc
                delay = self.tuning.retry_delay_seconds * (2 ** attempt)
                log.info("LanguageTool server %s: %s failed (%s); retrying in %.0f s", self.shown, what,
                         self._clean(exc), delay)
                time.sleep(delay)

    def client(self):
        """The library's client, made once, after the server has said it checks our language."""
        with self._lock:
            if self._client is None:
                self._client = self._retrying("connect", self._connect)
            return self._client

    def _connect(self):
        try:
            return self._asking("connect", lambda: _remote_client(self._address, self.tuning, self._account))
        except ValueError as exc:  # the library's word for a language the server does not offer
            raise CheckerUnavailable(f"LanguageTool server {self.shown} does not check {self.tuning.language}") from exc

    def _asking(self, what: str, request):
        """``request()``, its library errors sorted: ServerIOError on the network, else CheckerUnavailable."""
        from language_tool_python.exceptions import LanguageToolError

        try:
            return request()
        except LanguageToolError as exc:
            cause = exc.__cause__
            # An answer that is not JSON (a refusal: "Error: Your text exceeds …", a proxy's
            # page) comes as a JSONDecodeError, which requests also makes an OSError: test it first.
            if isinstance(cause, json.JSONDecodeError) or not isinstance(cause, (OSError, http.client.HTTPException)):
                doing = "refused the text" if what == "check" else f"refused the request ({what})"
                raise CheckerUnavailable(f"LanguageTool server {self.shown} {doing}: "
                                         f"{self._clean(str(exc).strip()[:200])}") from exc
            raise ServerIOError(self._clean(f"{type(cause).__name__}: {cause}")) from exc

    def _post(self, text: str) -> dict:
        """The /v2/check answer for ``text``: what the README says is sent, and nothing else."""
        client = self.client()
        with self._gate:
            answer = self._asking("check", lambda: client.answer(text))
        if not isinstance(answer, dict) or not isinstance(answer.get("matches"), list):
            raise CheckerUnavailable(f"LanguageTool server {self.shown} did not answer with LanguageTool's JSON "
                                     f"(check): {self._clean(str(answer)[:200])}")
        return answer

    def _clean(self, exc: BaseException | str) -> str:
        """The text of an error, without the credentials it may quote."""
        text = str(exc)
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def check(self, texts: list[str]) -> list[list[Finding]]:
        results: list[list[Finding]] = [[] for _ in texts]
        batches = pack_requests(texts, self.tuning.max_request_chars)
        if not batches:
            return results
        self.client()
        with ThreadPoolExecutor(min(len(batches), self.tuning.max_parallel_requests)) as pool:
            answers = list(pool.map(lambda b: self._retrying("check", lambda: self._post(b[1])), batches))
        for (indices, joined), answer in zip(batches, answers):
            software = answer.get("software") or {}
            if software.get("version"):
                self.server_version = f"{software.get('name', 'LanguageTool')} {software['version']}"
            for index, finding in split_matches(texts, indices, joined, answer["matches"]):
                results[index].append(finding)
        return results

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()


def url_without_credentials(url: str) -> str:
    """``url`` without the user name and password it may carry (``https://user:pw@host/``)."""
    parts = urllib.parse.urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def api_base(url: str) -> str:
    """The ``/v2/`` address of a server given as ``http://host:8081``, ``…/prefix/`` or ``…/v2``."""
    if "://" not in url:
        url = f"http://{url}"
    parts = urllib.parse.urlsplit(url)
    path = parts.path.rstrip("/")
    if not path.endswith("/v2"):
        path += "/v2"
    return urllib.parse.urlunsplit(parts._replace(path=path + "/", query="", fragment=""))


def pack_requests(texts: list[str], max_chars: int) -> list[tuple[list[int], str]]:
    """Group non-empty texts into requests of up to ``max_chars``: (indices, joined text)."""
    batches, indices, size = [], [], 0
    for i, text in enumerate(texts):
        if not text.strip():
            continue
        extra = len(text) + (len(REQUEST_SEPARATOR) if indices else 0)
        if indices and size + extra > max_chars:
            batches.append((indices, REQUEST_SEPARATOR.join(texts[j] for j in indices)))
            indices, size = [], 0
            extra = len(text)
        indices.append(i)
        size += extra
    if indices:
        batches.append((indices, REQUEST_SEPARATOR.join(texts[j] for j in indices)))
    return batches


def split_matches(texts: list[str], indices: list[int], joined: str, matches: list[dict]):
    """Findings of one server answer, mapped back to (text index, finding in that text)."""
    starts, pos = [], 0
    for i in indices:
        starts.append(pos)
        pos += len(texts[i]) + len(REQUEST_SEPARATOR)
    units = [u for m in matches for u in (m["offset"], m["offset"] + m["length"])]
    chars = utf16_to_char(joined, units)
    for n, m in enumerate(matches):
        start, end = chars[2 * n], chars[2 * n + 1]
        k = max(j for j, s in enumerate(starts) if s <= start)
        index, base = indices[k], starts[k]
        if end > base + len(texts[index]):  # spans a paragraph break: not about the text itself
            continue
        rule = m.get("rule") or {}
        category = rule.get("category") or {}
        yield index, Finding(
            offset=start - base, length=end - start, message=plain_message(m.get("message", "")),
            rule_id=rule.get("id", ""),
            category_id=category.get("id", ""), category_name=category.get("name", ""),
            issue_type=rule.get("issueType", ""), suggestions=[r["value"] for r in m.get("replacements", [])],
            short_message=m.get("shortMessage") or "", description=rule.get("description") or "",
            sentence=(m.get("sentence") or "").strip())


# --- the one place that chooses ---------------------------------------------------------------


def open_checker(tuning: CheckerTuning, env: dict | None = None) -> Checker:
    """The checker to use: a LanguageTool server if ``LANGUAGETOOL_URL`` is set, else embedded.

    Nothing is loaded or contacted here; that happens at the first check, so a run with
    nothing to review costs nothing. ``LANGUAGETOOL_USERNAME`` and ``LANGUAGETOOL_API_KEY``
    (both, or neither) are sent with each request for a paid LanguageTool account.
    """
    env = os.environ if env is None else env
    url = (env.get(ENV_URL) or "").strip()
    if url:
        return ServerChecker(url, tuning, username=env.get(ENV_USERNAME) or None,
                             api_key=env.get(ENV_API_KEY) or None)
    return EmbeddedChecker(tuning, data_dir=env.get("UTKAST_LT_DATA_DIR") or None)
