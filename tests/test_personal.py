"""Personal data: what is found and masked, what is not, and that it reaches no published file."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from tasks.core.config import default_templates, load_config
from tasks.core.errors import ConfigError
from tasks.personal.detect import detect
from tasks.personal.mask import mask_ast, scan_ast
from tasks.personal.rules import load_rules

# A report with personal data of every kind, in body text, a table and a footnote, with
# numbers and names that look like personal data but are not.
REPORT_MD = """\
# Arbetsträning med deltagaren Anna Svensson

Deltagaren Anna Svensson (811218-9876) började hos oss i mars. Anna har sedan dess arbetat i kassan.[^1]

– Det gick över förväntan, sa praktikanten Omar. Karin Ek, en av deltagarna, höll med.

Ring *070-123 45 67* eller +46 70 123 45 67, eller mejla [anna.svensson@example.se](mailto:anna.svensson@example.se). Hon bor på Storgatan 12, 123 45 Stockholm. Kontoret: Drottning Kristinas väg 14.

| Deltagare | Nummer | Telefon |
|---|---|---|
| Sara Lind | 198507091232 | 08-123 456 78 |
| (anonym) | 8501011236 | 031-12 34 56 |

Inte personuppgifter: 811218-9875 (fel kontrollsiffra), 2023-05-12, 19850101, organisationsnummer 802002-4280, Försäkringskassan 0771-524 524, 020-123 456, info@myrorna.se, 1 500 000 kronor. Tillsammans, deltagare och handledare, når vi långt i Stockholm med Arbetsförmedlingen.

[^1]: Enligt brukaren Mehmet Yilmaz, samordningsnummer 701063-2391, gick det bra. Han nås på 073-987 65 43.
"""

FOUND = [  # (place, kind, value) in document order
    ("titeln", "namn", "Anna Svensson"),
    ("stycke 1", "namn", "Anna Svensson"),
    ("stycke 1", "personnummer", "811218-9876"),
    ("stycke 1", "namn", "Anna"),
    ("fotnot 1", "namn", "Mehmet Yilmaz"),
    ("fotnot 1", "samordningsnummer", "701063-2391"),
    ("fotnot 1", "telefon", "073-987 65 43"),
    ("stycke 2", "namn", "Omar"),
    ("stycke 2", "namn", "Karin Ek"),
    ("stycke 3", "telefon", "070-123 45 67"),
    ("stycke 3", "telefon", "+46 70 123 45 67"),
    ("stycke 3", "epost", "anna.svensson@example.se"),
    ("stycke 3", "adress", "Storgatan 12, 123 45 Stockholm"),
    ("stycke 3", "adress", "Drottning Kristinas väg 14"),
    ("tabell 1, rad 2, kolumn 1", "namn", "Sara Lind"),
    ("tabell 1, rad 2, kolumn 2", "personnummer", "198507091232"),
    ("tabell 1, rad 2, kolumn 3", "telefon", "08-123 456 78"),
    ("tabell 1, rad 3, kolumn 2", "personnummer", "8501011236"),
    ("tabell 1, rad 3, kolumn 3", "telefon", "031-12 34 56"),
]
PLANTED = sorted({value for _, _, value in FOUND} | {"Mehmet", "Yilmaz", "Svensson"})
NOT_PERSONAL = ["811218-9875", "2023-05-12", "19850101", "802002-4280", "0771-524 524", "020-123 456",
                "info@myrorna.se", "1 500 000 kronor", "Tillsammans, deltagare och handledare", "Stockholm",
                "Arbetsförmedlingen", "Det gick över förväntan", "Kontoret:"]


@pytest.fixture(scope="module")
def rules():
    config = load_config()
    return load_rules(config.templates, config.registry)


def pandoc_ast(markdown: str, fmt: str = "markdown") -> tuple[dict, str]:
    """The body AST and title as utkast's normaliser leaves them (leading heading = title)."""
    from tasks.core.pandoc import pandoc_path

    done = subprocess.run([pandoc_path(), "--sandbox", "-f", fmt, "-t", "json"], input=markdown.encode("utf-8"),
                          capture_output=True, check=True)
    ast = json.loads(done.stdout)
    title = ""
    if ast["blocks"] and ast["blocks"][0]["t"] == "Header":
        head = ast["blocks"].pop(0)
        title = "".join(i["c"] if i["t"] == "Str" else " " for i in head["c"][2])
    return ast, title


def pandoc_markdown(ast: dict) -> str:
    from tasks.core.pandoc import pandoc_path

    done = subprocess.run([pandoc_path(), "-f", "json", "-t", "plain", "--wrap=none"],
                          input=json.dumps(ast).encode("utf-8"), capture_output=True, check=True)
    return done.stdout.decode("utf-8")


# --- finding ------------------------------------------------------------------------------------


def test_every_kind_is_found_in_body_text_table_and_footnote_and_nothing_else(rules):
    ast, title = pandoc_ast(REPORT_MD)
    findings, masked_title = scan_ast(ast, rules, title)
    assert [(f.place, f.kind, f.value) for f in findings] == FOUND
    assert masked_title == "Arbetsträning med deltagaren [namn borttaget]"


def test_masking_leaves_the_masks_and_everything_that_is_not_personal_data(rules):
    ast, title = pandoc_ast(REPORT_MD)
    masked, findings, _ = mask_ast(json.dumps(ast), rules, title)
    text = pandoc_markdown(json.loads(masked))
    for value in PLANTED:
        assert value not in text
    for value in NOT_PERSONAL:
        assert value in text
    assert ("Deltagaren [namn borttaget] ([personnummer borttaget]) började hos oss i mars. "
            "[namn borttaget] har sedan dess arbetat i kassan.") in text
    assert "sa praktikanten [namn borttaget]. [namn borttaget], en av deltagarna, höll med." in text
    assert ("Ring [telefonnummer borttaget] eller [telefonnummer borttaget], eller mejla [e-postadress borttagen]. "
            "Hon bor på [adress borttagen]. Kontoret: [adress borttagen].") in text
    assert ("Enligt brukaren [namn borttaget], samordningsnummer [samordningsnummer borttaget], gick det bra. "
            "Han nås på [telefonnummer borttaget].") in text
    assert "mailto:" not in masked.decode("utf-8")  # the link to the address is gone, its text masked
    assert len(findings) == len(FOUND)


@pytest.mark.parametrize("text, expected", [
    # personal identity numbers: 10 and 12 digits, with and without separator, + for 100 years
    ("pnr 811218-9876.", [("personnummer", "811218-9876")]),
    ("pnr 8112189876.", [("personnummer", "8112189876")]),
    ("pnr:811218-9876, nr.8112189876", [("personnummer", "811218-9876"), ("personnummer", "8112189876")]),
    ("pnr 19811218-9876.", [("personnummer", "19811218-9876")]),
    ("pnr 198112189876.", [("personnummer", "198112189876")]),
    ("pnr 19121212+1212.", [("personnummer", "19121212+1212")]),
    ("pnr 811218 9876, 811218\u20119876 och 811218–9876", [("personnummer", "811218 9876"),
                                                           ("personnummer", "811218\u20119876"),
                                                           ("personnummer", "811218–9876")]),
    ("samordningsnummer 701063-2391", [("samordningsnummer", "701063-2391")]),
    ("samordningsnummer 197010632391", [("samordningsnummer", "197010632391")]),
    # wrong check digit, impossible dates, organisation numbers, dates, amounts, longer numbers
    ("fel 811218-9875 och 8112189875", []),
    ("datum 2023-05-12, 19850101, 20230512", []),
    ("orgnr 802002-4280 och 556016-0680", []),
    ("fakturanr 12345678119812189876, 1234-811218-9876, 0,8112189876", []),
    ("1 500 000 kronor, 12 345 kr, paket 1.3, 2 500 SEK", []),
    # phone numbers; service numbers are public
    ("070-123 45 67", [("telefon", "070-123 45 67")]),
    ("+46 70 123 45 67", [("telefon", "+46 70 123 45 67")]),
    ("0046 8 123 456 78", [("telefon", "0046 8 123 456 78")]),
    ("08-123 456 78", [("telefon", "08-123 456 78")]),
    ("031-12 34 56", [("telefon", "031-12 34 56")]),
    ("(08) 123 45 67 och 070\u2011123\u00a045\u00a067", [("telefon", "(08) 123 45 67"),
                                                       ("telefon", "070\u2011123\u00a045\u00a067")]),
    ("Ring 0771-524 524 eller 020-123 456", []),
    # e-mail, role addresses are kept
    ("anna.svensson@example.se.", [("epost", "anna.svensson@example.se")]),
    ("skriv till info@myrorna.se", []),
    ("din namn@digg.se-adress, a@b.co.uk", [("epost", "namn@digg.se"), ("epost", "a@b.co.uk")]),
    # addresses
    ("Storgatan 12, 123 45 Stockholm", [("adress", "Storgatan 12, 123 45 Stockholm")]),
    ("Box 123, 123 45 Stockholm", [("adress", "Box 123, 123 45 Stockholm")]),
    ("bor på Kungsvägen 3B sedan", [("adress", "Kungsvägen 3B")]),
    ("i Stockholm och på Storgatan", []),
    # names next to participant words, in several positions
    ("Deltagaren Anna Svensson började.", [("namn", "Anna Svensson")]),
    ("– Bra, sa praktikanten Omar.", [("namn", "Omar")]),
    ("Anna, en av deltagarna, log.", [("namn", "Anna")]),
    ("Omar (praktikant) log.", [("namn", "Omar")]),
    ("Omar, praktikanten, log.", [("namn", "Omar")]),
    ("En deltagare som heter Sara Ali al-Hassan kom.", [("namn", "Sara Ali al-Hassan")]),
    ("Namn: Karin Ek", [("namn", "Karin Ek")]),
    ("Deltagare 3: Omar Ali berättar.", [("namn", "Omar Ali")]),
    ("sa praktikanten Nora Lund i Lund.", [("namn", "Nora Lund")]),
    ("Igår Anna, en av deltagarna, log.", [("namn", "Anna")]),
    ("Anna Svensson, deltagare i projektet, berättar.", [("namn", "Anna Svensson")]),
    ("Anna är deltagare hos oss.", [("namn", "Anna")]),
    ("Omar var en av praktikanterna.", [("namn", "Omar")]),
    ("Deltagaren Anna S. berättar.", [("namn", "Anna S.")]),
    ("Fokus är deltagaren och hennes väg.", []),
    ("Resultatet är en deltagare som trivs.", []),
    ("Praktikanter, deltagare, brukare och handledare.", []),
    ("Sammantaget, deltagarna trivs.", []),
    ("deltagaren Arbetsförmedlingen anvisat", []),
    ("deltagarna i Stockholm och deltagaren. Sedan", []),
    ("Tillsammans, deltagare och handledare, går vi vidare.", []),
    ("Anna Lindh talade om arbete.", []),  # a name without a participant word is not found
])
def test_what_is_found_and_what_is_not(rules, text, expected):
    assert [(m.kind, m.value) for m in detect(text, rules)] == expected


def test_the_partners_own_names_and_the_keep_list_are_never_masked(tmp_path, rules):
    assert detect("Deltagaren Myrorna", rules) == []
    copy_templates(tmp_path)
    path = tmp_path / "personuppgifter.toml"
    path.write_text(path.read_text(encoding="utf-8").replace("values = []", 'values = ["08-123 456 78"]'),
                    encoding="utf-8")
    config = load_config(tmp_path)
    kept = load_rules(tmp_path, config.registry)
    assert detect("Växel 08-123 456 78, mobil 070-123 45 67", kept) == [
        m for m in detect("Växel 08-123 456 78, mobil 070-123 45 67", rules) if m.value == "070-123 45 67"]


def test_an_extra_pattern_from_the_rules_file_is_masked_with_its_own_text(tmp_path):
    copy_templates(tmp_path)
    path = tmp_path / "personuppgifter.toml"
    path.write_text(path.read_text(encoding="utf-8") + (
        '\n[[patterns]]\nkind = "lagenhet"\nlabel = "lägenhetsnummer"\nmask = "[lgh borttagen]"\n'
        "regex = '\\blgh\\s*\\d{4}\\b'\n"), encoding="utf-8")
    config = load_config(tmp_path)
    rules = load_rules(tmp_path, config.registry)
    ast, _ = pandoc_ast("Hon bor i lgh 1102 på tredje våningen.")
    masked, findings, _ = mask_ast(json.dumps(ast), rules)
    assert [(f.kind, f.value) for f in findings] == [("lagenhet", "lgh 1102")]
    assert "Hon bor i [lgh borttagen] på tredje våningen." in pandoc_markdown(json.loads(masked))


# --- configuration --------------------------------------------------------------------------------


def copy_templates(target):
    for path in default_templates().iterdir():
        if path.is_file():
            shutil.copy(path, target / path.name)


@pytest.mark.parametrize("file, old, new, key", [
    ("personuppgifter.toml", 'mask = "[adress borttagen]"', "mask = 3", "kinds.adress.mask"),
    ("personuppgifter.toml", '"MOBILE", ', '"MOBIL", ', "phone.types[0]"),
    ("personuppgifter.toml", "# [[patterns]]\n# kind", "[[patterns]]\nlabel = \"x\"\nmask = \"y\"\nregex = '(['\nkind",
     "patterns[0].regex"),
    ("personuppgifter.toml", 'markers = [\n  "deltagare",', 'markers = [\n  "",', "names.markers[0]"),
    ("settings.toml", 'action = "mask"', 'action = "maska"', "personal_data.action"),
])
def test_invalid_rules_name_file_and_key(tmp_path, file, old, new, key):
    copy_templates(tmp_path)
    text = (tmp_path / file).read_text(encoding="utf-8")
    assert old in text
    (tmp_path / file).write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        config = load_config(tmp_path)
        load_rules(tmp_path, config.registry)
    assert caught.value.file.endswith(file) and caught.value.key == key


def test_changed_rules_change_the_draft_fingerprint(tmp_path):
    from tasks.draft.manifest import draft_fingerprint

    copy_templates(tmp_path)
    before = draft_fingerprint([], load_config(tmp_path), ["docx"], None, [])
    path = tmp_path / "personuppgifter.toml"
    path.write_text(path.read_text(encoding="utf-8").replace("values = []", 'values = ["x"]'), encoding="utf-8")
    assert draft_fingerprint([], load_config(tmp_path), ["docx"], None, []) != before


# --- the language review --------------------------------------------------------------------------


def test_a_configured_languagetool_server_never_receives_the_personal_data(config):
    from tasks.review.check import review_source
    from tasks.review.checker import ServerChecker
    from tasks.review.settings import load_review_settings
    from tests.builders import docx_from_markdown
    from tests.lt_server import LanguageToolStandIn

    settings = load_review_settings(config.templates, config.registry)
    server = LanguageToolStandIn().start()
    try:
        reviewed = review_source("docx", docx_from_markdown(REPORT_MD), None,
                                 ServerChecker(server.url, settings.tuning), settings)
    finally:
        server.stop()
    sent = "\n".join(r["text"] for r in server.requests)
    assert "Deltagaren" in sent and "811218-9875" in sent  # the text is sent, ...
    for value in PLANTED:  # ... without the personal data (zeros stand in for it)
        assert value not in sent
    assert "Deltagaren 0000000000000 (00000000000) började" in sent
    personal = [(f["personal"]["kind"], f["personal"]["value"]) for f in reviewed.findings if f.get("personal")]
    assert len(personal) == len(FOUND)  # the desk review finds them without the draft's AST too


def test_real_swedish_documents_give_no_false_findings(corpus, rules):
    """Public Swedish documents of the shared corpus: only the e-mail addresses they hold are found."""
    from tasks.core.pandoc import pandoc_path

    found = []
    for path in sorted((corpus / "swedish").glob("*.docx")) + sorted((corpus / "swedish-text").glob("*.md")):
        fmt = "docx" if path.suffix == ".docx" else "markdown"
        done = subprocess.run([pandoc_path(), "--sandbox", "-f", fmt, "-t", "json", str(path)],
                              capture_output=True, check=True)
        found += [(f.kind, f.value) for f in scan_ast(json.loads(done.stdout), rules)[0]]
    assert sorted(set(found)) == [("epost", "namn@digg.se"), ("epost", "ospo@digg.se")]
