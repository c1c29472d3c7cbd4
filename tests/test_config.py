"""Configuration is data, validated on load; errors name the file, the key and what is allowed."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path
from typing import Literal

import pytest

from tasks.core.config import Array, Outline, Positive, Table, Text, default_templates, load_config, read_config
from tasks.core.errors import ConfigError
from tasks.review.settings import load_review_settings

# Every configuration file in templates/: a new one is covered by the tests below without
# being named here.
TOML_FILES = sorted(p.name for p in default_templates().glob("*.toml"))
# Tables whose keys are data, not settings: any LanguageTool rule id may be given a severity.
FREE_KEYS = {("review.toml", "severity.rules")}
UTKAST = Path(sys.executable).with_name("utkast")

KEY_LINE = re.compile(r"^\s*(?:\[\[?\s*(?:[\w-]+\.)*(?P<table>[\w-]+)\s*\]\]?|(?P<key>[\w-]+)\s*=)")
SCALAR_LINE = re.compile(r'^(?P<head>\s*[\w-]+\s*=\s*)(?P<value>-?\d+|"[^"]*")\s*(?:#.*)?$')


def copy_templates(target: Path, only_toml: bool = False) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    for path in default_templates().iterdir():
        if path.is_file() and (path.suffix == ".toml" or not only_toml):
            shutil.copy(path, target / path.name)
    return target


def load_everything(templates: Path) -> None:
    """What ``utkast build`` reads before it starts: every .toml file in ``templates``."""
    config = load_config(templates)
    load_review_settings(templates, config.registry)


def edit(path: Path, lineno: int, new_line: str) -> None:
    lines = path.read_text(encoding="utf-8").split("\n")
    lines[lineno] = new_line
    path.write_text("\n".join(lines), encoding="utf-8")


def misspelt(word: str) -> str:
    """A typing slip: the second and third letters swapped (or the second doubled)."""
    if len(word) > 2 and word[1] != word[2]:
        return word[0] + word[2] + word[1] + word[3:]
    return word[:2] + word[1:]


def where(data, match) -> tuple | None:
    """The path (keys and indexes) of the first key or value in parsed TOML for which ``match`` holds."""
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else ()
    for key, value in items:
        if match(key, value):
            return (key,)
        found = where(value, match)
        if found:
            return (key, *found)
    return None


def dotted(path: tuple) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")


def key_lines(name: str) -> list[tuple[int, str]]:
    """(line number, key or table name) of every key and table header of a templates/ file."""
    lines = (default_templates() / name).read_text(encoding="utf-8").split("\n")
    return [(n, m["table"] or m["key"]) for n, line in enumerate(lines) if (m := KEY_LINE.match(line))]


def misspell_line(path: Path, lineno: int, key: str) -> str | None:
    """Misspell ``key`` on line ``lineno`` of ``path``; returns the misspelt key as the error
    names it, or None when the file is no longer TOML (a table header that now clashes)."""
    line = path.read_text(encoding="utf-8").split("\n")[lineno]
    wrong = misspelt(key)
    start = line.index(key) if not line.lstrip().startswith("[") else line.rindex(key)
    edit(path, lineno, line[:start] + wrong + line[start + len(key):])
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError:
        return None
    return dotted(where(data, lambda k, v: k == wrong))


def wrong_type_line(path: Path) -> tuple[str, str]:
    """Give the last number in ``path`` a string, or else the last string a number;
    returns the dotted key and the value as the error shows it."""
    lines = path.read_text(encoding="utf-8").split("\n")
    scalars = [(n, m) for n, line in enumerate(lines) if (m := SCALAR_LINE.match(line))]
    numbers = [(n, m) for n, m in scalars if not m["value"].startswith('"')]
    n, m = (numbers or scalars)[-1]
    value, shown = ('"tolv"', "'tolv'") if numbers else ("12345", "12345")
    edit(path, n, m["head"] + value)
    sentinel = "tolv" if numbers else 12345
    found = where(tomllib.loads(path.read_text(encoding="utf-8")),
                  lambda k, v: type(v) is type(sentinel) and v == sentinel)
    return dotted(found), shown


def run_utkast(tmp_path: Path, templates: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "UTKAST_TEMPLATES": str(templates)}
    return subprocess.run([str(UTKAST), "build", "--no-review", "--formats", "docx",
                           "--inbox", str(tmp_path / "inbox"), "--out", str(tmp_path / "outputs")],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)


# --- the committed files ------------------------------------------------------------------------


def test_the_committed_configuration_is_the_partnership(config):
    assert [p.number for p in config.outline.paket] == [1, 2, 3, 4, 5]
    assert list(config.outline.pieces) == ["1.1", "1.2", "1.3", "1.4", "2.1", "2.2", "2.3", "2.4", "3.1", "3.2",
                                           "3.3", "3.4", "4.1", "4.2", "4.3", "5.1", "5.2"]
    assert sum(p.budget_sek for p in config.outline.pieces.values()) == 48_500  # 4 × 5 000 + 11 × 2 500 + 2 × 500
    assert config.outline.paket_of("3.2").number == 3 and config.outline.pieces["3.2"].paket == 3
    assert len(config.registry.partners) == 14
    assert config.registry.find("FRÄLSNINGSARMÉN").slug == "fralsningsarmen"
    assert config.registry.find("okänd") is None
    assert config.registry.by_slug("skl").short == "SKL"
    assert config.registry.by_slug("forum").short == "Forum"
    assert config.settings.link_seconds == 7 * 24 * 3600
    assert config.settings.limits.max_file_bytes == 20 * 1024 * 1024
    assert config.settings.formats == ("docx", "pdf", "html")
    assert config.settings.personal_action == "mask"


def test_every_committed_file_loads(tmp_path):
    assert {"outline.toml", "partners.toml", "settings.toml", "review.toml", "personuppgifter.toml"} <= set(TOML_FILES)
    load_everything(copy_templates(tmp_path, only_toml=True))


# --- one problem, one message ---------------------------------------------------------------------


@pytest.mark.parametrize("file, old, new, key, what", [
    ("outline.toml", 'id = "1.3"', 'id = "1.2"', "paket[0].pieces[2].id", "'1.2' appears twice"),
    ("outline.toml", 'id = "2.1"', 'id = "3.1"', "paket[1].pieces[0].id", "'3.1' must look like '2.1'"),
    ("outline.toml", 'id = "2.1"', 'id = "2.10"', "paket[1].pieces[0].id", "must look like"),
    ("outline.toml", "number = 3", "number = 1", "paket[2].number", "increasing order"),
    ("outline.toml", "budget_sek = 500\n", 'budget_sek = "femhundra"\n', "paket[4].pieces[0].budget_sek",
     "must be an integer, got 'femhundra'"),
    ("outline.toml", "budget_sek = 500\n", "budget_sek = true\n", "paket[4].pieces[0].budget_sek",
     "must be an integer, got true"),
    ("outline.toml", "budget_sek = 500\n", "budget_sek = 500.0\n", "paket[4].pieces[0].budget_sek",
     "must be an integer, got 500.0"),
    ("partners.toml", 'slug = "myrorna"', 'slug = "Myrorna AB"', "partner[7].slug", "lower-case letters"),
    ("partners.toml", 'name = "Forum"\n', "", "partner[12].name", "is required"),
    ("partners.toml", 'aliases = ["frälsningsarmén"]', 'aliases = ["frälsningsarmén", "Roda-Korset"]',
     "partner[3].aliases[1]", "'Roda-Korset' is used by two partners"),
    ("partners.toml", 'slug = "forum"', 'slug = "myrorna"', "partner[12].slug", "'myrorna' is used by two partners"),
    ("partners.toml", 'aliases = ["frälsningsarmén"]', 'aliases = "frälsningsarmén"', "partner[3].aliases",
     "must be an array, got 'frälsningsarmén'"),
    ("settings.toml", "max_file_mb = 20", "max_file_mb = -1", "intake.max_file_mb", "must be a positive number"),
    # folder names that would leave the partner's folder or show a reviewer's files, sizes past sense
    ("partners.toml", 'aliases = ["frälsningsarmén"]', 'aliases = ["../evidence"]', "partner[3].aliases",
     "'../evidence' must be letters, digits and '-'"),
    ("partners.toml", 'aliases = ["frälsningsarmén"]', 'aliases = ["frälsningsarmén", "Feedback"]',
     "partner[3].aliases", "'Feedback' is a reserved folder of the inbox"),
    ("partners.toml", 'slug = "forum"', 'slug = "feedback"', "partner[12].slug", "'feedback' is a reserved folder"),
    ("settings.toml", "max_file_mb = 20", "max_file_mb = 100000", "intake.max_file_mb", "1024"),
    ("settings.toml", "max_folder_mb = 500", "max_folder_mb = 5", "intake.max_folder_mb",
     "must be at least max_file_mb (20): no file would fit"),
    ("settings.toml", 'formats = ["docx", "pdf", "html"]', 'formats = ["docx", "odt"]', "draft.formats[1]",
     "must be 'docx', 'pdf' or 'html', got 'odt'"),
    ("settings.toml", 'formats = ["docx", "pdf", "html"]', "formats = []", "draft.formats", "must not be empty"),
    ("settings.toml", "expire_hours = 168", "expire_hours = 720", "links.expire_hours", "at most 168"),
    ("settings.toml", 'action = "mask"', 'action = "stopp"', "personal_data.action",
     "must be 'mask' or 'stop', got 'stopp'"),
    ("settings.toml", "[links]", "[link]", "link", "unknown key (did you mean 'links'?)"),
    ("review.toml", 'misspelling = "fel"', 'misspelling = "error"', "severity.issue_types.misspelling",
     "must be 'fel', 'varning' or 'tips', got 'error'"),
    ("review.toml", 'misspelling = "fel"', 'mispelling = "fel"', "severity.issue_types.mispelling",
     "unknown key (did you mean 'misspelling'?)"),
    ("review.toml", 'default = "varning"', 'default = "warning"', "severity.default", "must be 'fel'"),
    ("review.toml", "max_request_chars = 20000", "max_request_chars = 50", "server.max_request_chars",
     "must be at least 100, got 50"),
    ("review.toml", "timeout_seconds = 60", 'timeout_seconds = "60"', "server.timeout_seconds",
     "must be a number, got '60'"),
    ("review.toml", "disabled_categories = []", 'disabled_categories = [""]', "rules.disabled_categories[0]",
     "must not be empty"),
    ("personuppgifter.toml", "[kinds.namn]", "[kinds.namnen]", "kinds.namnen",
     "add a pattern under [[patterns]] for anything else"),
    ("personuppgifter.toml", 'types = ["MOBILE"', 'types = ["MOBIL"', "phone.types[0]", "got 'MOBIL'"),
    ("personuppgifter.toml", "values = []", 'values = []\n[[patterns]]\nkind = "namn"\nlabel = "x"\nmask = "y"\n'
     'regex = "x"', "patterns[0].kind", "'namn' is built in"),
    ("personuppgifter.toml", "values = []", 'values = []\n[[patterns]]\nkind = "lgh"\nlabel = "x"\nmask = "y"\n'
     'regex = "a*"', "patterns[0].regex", "matches the empty text"),
    # e-mail, due dates, commissions and people (notify)
    ("settings.toml", 'server = ""', 'server = "smtp://utkast:hemligt@mail.example.org:587"', "email.server",
     "must not hold a password: it comes from the environment (UTKAST_SMTP_PASSWORD)"),
    ("settings.toml", 'server = ""', 'server = "mail.example.org"', "email.server", "must look like smtp://"),
    ("settings.toml", 'sender = "Utkast <utkast@localhost>"', 'sender = "Utkast"', "email.sender",
     "is not an e-mail address"),
    ("settings.toml", 'url = ""', 'url = "utkast.example.org"', "portal.url", "must look like https://host"),
    ("settings.toml", 'url = ""', 'url = "https://admin:x@utkast.example.org"', "portal.url", "no user name"),
    ("settings.toml", 'url = ""', 'url = "https://utkast.example.org:huvud"', "portal.url",
     "port that is not a number"),
    ("outline.toml", "due = 2026-04-30", "due = 2027-04-30", "paket[4].pieces[0].due",
     "2027-04-30 is outside the project year (2026-03-01 to 2026-08-31)"),
    ("outline.toml", "due = 2026-04-30", 'due = "30 april"', "paket[4].pieces[0].due", "must be a date"),
    ("outline.toml", 'id = "4.2"\n', 'id = "4.2"\n  commissioned = ["myrona"]\n', "paket[3].pieces[1].commissioned[0]",
     "'myrona' is not a partner's slug in partners.toml"),
    ("outline.toml", "review_from = 2026-08-01", "review_from = 2026-09-01", "schedule.review_from",
     "must lie within the project year"),
    ("partners.toml", 'slug = "forum"\n', 'slug = "forum"\nemail = ["goran.pettersson"]\n', "partner[12].email[0]",
     "'goran.pettersson' is not an e-mail address"),
    ("people.toml", 'email = []', 'email = ["heidi@x.test"]\n[[reviewer]]\nname = "Åsa"\n[[reviewer]]\nname = "ÅSA"',
     "reviewer[1].name", "'ÅSA' appears twice"),
])
def test_invalid_configuration_names_file_key_and_what_is_allowed(tmp_path, file, old, new, key, what):
    copy_templates(tmp_path, only_toml=True)
    text = (tmp_path / file).read_text(encoding="utf-8")
    assert old in text
    (tmp_path / file).write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_everything(tmp_path)
    assert caught.value.file.endswith(file) and caught.value.key == key
    assert what in caught.value.problem


@pytest.mark.parametrize("file, lineno, key", [(name, n, key) for name in TOML_FILES for n, key in key_lines(name)])
def test_every_misspelt_key_is_refused(tmp_path, file, lineno, key):
    copy_templates(tmp_path, only_toml=True)
    wrong = misspell_line(tmp_path / file, lineno, key)
    if wrong and (file, wrong.rpartition(".")[0]) in FREE_KEYS:
        load_everything(tmp_path)  # a rule id the checker does not know is not an error
        return
    with pytest.raises(ConfigError) as caught:
        load_everything(tmp_path)
    assert caught.value.file == str(tmp_path / file)
    if wrong is None:
        assert caught.value.key == "-" and caught.value.problem.startswith("not valid TOML")
    else:
        assert caught.value.key == wrong
        assert caught.value.problem.startswith(f"unknown key (did you mean '{key}'?); allowed keys: ")


# --- through the command line -----------------------------------------------------------------------


@pytest.mark.parametrize("file", TOML_FILES)
def test_utkast_build_stops_at_a_misspelt_key_in_any_file(tmp_path, file):
    templates = copy_templates(tmp_path / "templates")
    lineno, key = key_lines(file)[-1]
    wrong = misspell_line(templates / file, lineno, key)
    done = run_utkast(tmp_path, templates)
    assert done.returncode == 2, done.stderr
    assert (f"utkast: configuration error in templates/{file}: {wrong}: unknown key (did you mean '{key}'?)"
            in done.stderr)
    assert not (tmp_path / "outputs").exists()


@pytest.mark.parametrize("file", TOML_FILES)
def test_utkast_build_stops_at_a_wrong_type_in_any_file(tmp_path, file):
    templates = copy_templates(tmp_path / "templates")
    key, shown = wrong_type_line(templates / file)
    done = run_utkast(tmp_path, templates)
    assert done.returncode == 2, done.stderr
    assert f"utkast: configuration error in templates/{file}: {key}: must be " in done.stderr
    assert done.stderr.rstrip().endswith(f"got {shown}")


def test_acton_stop_is_refused_rather_than_masking(tmp_path):
    templates = copy_templates(tmp_path / "templates")
    path = templates / "settings.toml"
    path.write_text(path.read_text(encoding="utf-8").replace('action = "mask"', 'acton = "stop"'), encoding="utf-8")
    done = run_utkast(tmp_path, Path("templates"))  # relative: shown as given
    assert done.returncode == 2
    assert done.stderr == ("utkast: configuration error in templates/settings.toml: personal_data.acton: "
                           "unknown key (did you mean 'action'?); allowed keys: action\n")


# --- how an error reads -------------------------------------------------------------------------------


class Item(Table):
    id: Text
    budget_sek: Positive


class Part(Table):
    """A small file for the tests: a table, an array of tables, a choice, a list of numbers."""

    unknown_key_hint = "see the manual"

    name: Text
    kind: Literal["a", "b"] = "a"
    pieces: Array[Item] = ()
    sizes: Array[int] = ()
    scores: dict[Literal["low", "high"], int] = {}


class Whole(Table):
    part: Part
    enabled: bool = False


def problem_in(tmp_path: Path, text: str, model=Whole) -> ConfigError:
    path = tmp_path / "file.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        read_config(path, model)
    assert caught.value.file == str(path)
    return caught.value


@pytest.mark.parametrize("text, key, what", [
    ('[part]\nname = "x"\nnmae = "y"', "part.nmae",
     "unknown key (did you mean 'name'?); allowed keys: name, kind, pieces, sizes, scores (see the manual)"),
    ('enabld = true\n[part]\nname = "x"', "enabld",
     "unknown key (did you mean 'enabled'?); allowed keys: part, enabled"),
    ('[part]\nname = "x"\nzzz = 1', "part.zzz",
     "unknown key; allowed keys: name, kind, pieces, sizes, scores (see the manual)"),
    ('[part]\nname = "x"\n[[part.pieces]]\nid = "1"\nbudget_sek = 1\n[[part.pieces]]\nid = "2"\nbudget_sek = "ett"',
     "part.pieces[1].budget_sek", "must be an integer, got 'ett'"),
    ('[part]\nname = "x"\n[[part.pieces]]\nid = "1"\nbudget_sek = 0', "part.pieces[0].budget_sek",
     "must be a positive number, got 0"),
    ('[part]\nname = "x"\nkind = "c"', "part.kind", "must be 'a' or 'b', got 'c'"),
    ('[part]\nname = "x"\nsizes = [1, "2"]', "part.sizes[1]", "must be an integer, got '2'"),
    ('[part]\nname = "x"\nscores = {low = 1, hihg = 2}', "part.scores.hihg",
     "unknown key (did you mean 'high'?); allowed keys: low, high"),
    ('enabled = 1\n[part]\nname = "x"', "enabled", "must be true or false, got 1"),
    ('part = "x"', "part", "must be a table, got 'x'"),
    ('[part]\nname = "  "', "part.name", "must not be empty"),
    ("[part]\nkind = 'a'", "part.name", "is required"),
])
def test_an_error_names_the_dotted_key_and_what_is_allowed(tmp_path, text, key, what):
    error = problem_in(tmp_path, text)
    assert (error.key, error.problem) == (key, what)
    assert str(error) == f"{tmp_path / 'file.toml'}: {key}: {what}"


def test_a_misspelt_required_key_is_reported_as_unknown_not_as_missing(tmp_path):
    error = problem_in(tmp_path, '[part]\nnaem = "x"')
    assert (error.key, error.problem.split(";")[0]) == ("part.naem", "unknown key (did you mean 'name'?)")


def test_a_missing_file_and_broken_toml_name_the_file(tmp_path):
    with pytest.raises(ConfigError) as caught:
        read_config(tmp_path / "nowhere.toml", Whole)
    assert (caught.value.key, caught.value.problem) == ("-", "file is missing")
    error = problem_in(tmp_path, '[part]\nname = "x')
    assert error.key == "-" and error.problem.startswith("not valid TOML")


def test_a_file_below_the_working_folder_is_named_relative_to_it(tmp_path, monkeypatch):
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "outline.toml").write_text('title = "T"\nproject = "P"\npaket = []\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as caught:
        read_config(tmp_path / "templates" / "outline.toml", Outline)
    assert str(caught.value) == "templates/outline.toml: paket: must not be empty"


# --- the flows ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("flow", ["intake", "build_draft"])
def test_a_typo_fails_a_prefect_run_before_any_work_with_the_same_message(prefect_harness, tmp_path, flow):
    import flows.build
    import flows.intake

    templates = copy_templates(tmp_path / "templates")
    path = templates / "personuppgifter.toml"  # read late in a run, by the personal-data scan
    path.write_text(path.read_text(encoding="utf-8").replace("[keep]\nvalues", "[keep]\nvalue"), encoding="utf-8")
    module = flows.intake if flow == "intake" else flows.build
    (tmp_path / "inbox" / "verdandi").mkdir(parents=True)
    (tmp_path / "inbox" / "verdandi" / "4.2 Motiv.txt").write_text("Verksamheten bygger på gemenskap.\n",
                                                                   encoding="utf-8")
    state = getattr(module, flow)(inbox=str(tmp_path / "inbox"), out=str(tmp_path / "outputs"), review=False,
                                  templates=str(templates), return_state=True)
    assert state.is_failed()
    assert (f"ConfigError: {path}: keep.value: unknown key (did you mean 'values'?); allowed keys: values"
            in state.message)
    assert "\n" not in state.message
    assert not (tmp_path / "outputs" / "normalised").exists() and not (tmp_path / "outputs" / "status.json").exists()


def test_an_edited_template_shows_its_new_text_in_the_next_run(tmp_path, monkeypatch):
    """Compiled templates are kept between runs (Jinja's bytecode cache); a coordinator's edit
    must still show in the very next run, and the Markdown and HTML environments, which make
    different code of the same source, must not share what they keep."""
    import jinja2

    from tasks.core import templating

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))  # a cache of this test's own
    (tmp_path / "tmp").mkdir()
    folder = tmp_path / "templates"
    folder.mkdir()
    page = folder / "sida.j2"

    def render(text: str) -> tuple[str, str]:
        page.write_text(text, encoding="utf-8")
        templating.markdown_env.cache_clear()  # a new run: new environments, the same cache
        templating.html_env.cache_clear()
        return (templating.markdown_env(folder).get_template("sida.j2").render(namn="<b>Myrorna</b>"),
                templating.html_env(folder).get_template("sida.j2").render(namn="<b>Myrorna</b>"))

    assert render("Hej {{ namn }}!") == ("Hej <b>Myrorna</b>!", "Hej &lt;b&gt;Myrorna&lt;/b&gt;!")
    kept = sorted(p.name for p in (tmp_path / "tmp").rglob("*.cache"))
    assert len(kept) == 2 and any("_md_" in n for n in kept) and any("_html_" in n for n in kept)
    assert render("Hej {{ namn }}!") == ("Hej <b>Myrorna</b>!", "Hej &lt;b&gt;Myrorna&lt;/b&gt;!")
    assert render("Välkommen, {{ namn }}.") == ("Välkommen, <b>Myrorna</b>.", "Välkommen, &lt;b&gt;Myrorna&lt;/b&gt;.")
    with pytest.raises(jinja2.UndefinedError):  # still strict about a misspelt name
        page.write_text("Hej {{ nman }}!", encoding="utf-8")
        templating.markdown_env.cache_clear()
        templating.markdown_env(folder).get_template("sida.j2").render(namn="x")


def test_the_large_json_files_read_back_as_json_would_have_written_them():
    """tasks.core.jsonfast writes what json.dumps(..., ensure_ascii=False) would, apart from
    spacing: Swedish letters as UTF-8, numbers as keys made strings (orjson alone refuses them)."""
    import json

    from tasks.core import jsonfast

    data = {"paket": {1: ["Måndag", None, 2.5, True]}, "text": "Åsa sa: \"hej\" – \u2028 slut", "n": 10**15}
    written = jsonfast.dumps(data)
    assert isinstance(written, bytes) and "Måndag".encode("utf-8") in written
    assert jsonfast.loads(written) == json.loads(json.dumps(data, ensure_ascii=False))
    assert jsonfast.loads(written.decode("utf-8")) == {"paket": {"1": ["Måndag", None, 2.5, True]},
                                                      "text": "Åsa sa: \"hej\" – \u2028 slut", "n": 10**15}


def test_templates_still_render_when_no_compiled_template_can_be_kept(tmp_path, monkeypatch):
    """A temporary folder where the cache cannot be (here its place is taken by a file) or
    cannot be written costs the compile, never the run."""
    from tasks.core import templating

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    (tmp_path / f"_jinja2-cache-{os.getuid()}").write_text("not a folder", encoding="utf-8")
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "sida.j2").write_text("Hej {{ namn }}!", encoding="utf-8")
    templating.markdown_env.cache_clear()
    assert templating.markdown_env(folder).get_template("sida.j2").render(namn="Myrorna") == "Hej Myrorna!"

    (tmp_path / f"_jinja2-cache-{os.getuid()}").unlink()
    templating.markdown_env.cache_clear()
    env = templating.markdown_env(folder)
    monkeypatch.setattr(tempfile, "NamedTemporaryFile", lambda *a, **k: (_ for _ in ()).throw(OSError(28, "full")))
    assert env.get_template("sida.j2").render(namn="Myrorna") == "Hej Myrorna!"  # could not be kept
    templating.markdown_env.cache_clear()
