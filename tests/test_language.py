"""A Swedish review worth more than Word's own checker: compounds and acronyms are no
misspellings, the house style and the term list give findings of their own categories,
each report gets its readability, and each draft groups the variant spellings of one term
across the partners' reports (sprak.json, sprak.html)."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import replace

import pytest

from tasks.core.errors import ConfigError
from tasks.review.check import review_blocks
from tasks.review.readability import lix_level, readability
from tasks.review.settings import load_review_settings
from tasks.review.spelling import open_lexicon, open_tagger
from tasks.review.text import Block
from tasks.review.variants import find_variants, load_terms
from tests.builders import put


def _texts(findings):
    return [f["text"] for f in findings]


# --- spelling that knows Swedish compounds --------------------------------------------------------

def test_compounds_split_into_dictionary_words_and_typos_do_not():
    lexicon = open_lexicon()
    for word, parts in [("hotmodellering", ["hot", "modellering"]), ("kodförråd", ["kod", "förråd"]),
                        ("attackytanalys", ["attack", "yt", "analys"]), ("affärsdelen", ["affärs", "delen"]),
                        ("objektstyper", ["objekts", "typer"]), ("ytobjekt", ["yt", "objekt"])]:
        assert lexicon.split(word) == parts, word
    for word in ("karatänperiod", "lämligt", "arbetsmaknaden", "bojler"):
        assert lexicon.split(word) is None, word


def test_compounds_acronyms_addresses_and_names_are_not_misspellings_but_typos_are(checker, settings):
    text = ("Vi arbetar med hotmodellering och attackytanalys i vårt kodförråd och i affärsdelen. "
            "CI och SAST körs på QGYF:s kod, se data.shp och rapport_2024.docx, www.digg.se och info@digg.se. "
            "Kooptjänst-projektet hade en karatänperiod och en vecka är lämligt.")
    found = review_blocks([Block(text)], checker, settings)
    assert _texts(found) == ["karatänperiod", "lämligt"]
    assert found[1]["suggestions"][0] == "lämpligt"


def test_a_misspelt_compound_with_a_one_letter_suggestion_stays_reported(checker, settings):
    found = review_blocks([Block("Vi pratade tillsamans om arbetsmaknaden och släktsträffar.")], checker, settings)
    assert _texts(found) == ["tillsamans", "arbetsmaknaden", "släktsträffar"]


def test_cited_words_garbled_tokens_and_missing_definite_forms_are_not_misspellings(checker, settings):
    text = ("Ordet ”millennial” myntades sent. Skillnaden mot sverigesvenskan är liten och "
            "norsktalandet ökar, men m$ndighet är oläsligt. Vi pratade ”tillsamans” om arbetsmaknaden.")
    found = review_blocks([Block(text)], checker, settings)
    assert _texts(found) == ["tillsamans", "arbetsmaknaden"]
    assert found[0]["suggestions"][0] == "tillsammans"


def test_the_tagger_dictionary_knows_words_the_speller_does_not():
    tagger = open_tagger()
    assert ("cola", "NN:OF:SIN:NOM:UTR") in tagger.lookup("cola")
    assert ("gå", "VB:PRT") in tagger.lookup("gick")
    assert tagger.lookup("lämligt") == ()


# --- grammar rules in the review ------------------------------------------------------------------

def test_grammar_rules_find_agreement_verb_forms_pronouns_and_word_order(checker, settings):
    sentences = ["Jag bor i en hus nära skolan.", "Jag kan talar svenska.", "Idag jag går till skolan.",
                 "Kanske dem är rädda.", "Jag tror att han kommer inte i dag.", "Jag är jätte glad."]
    found = review_blocks([Block(s) for s in sentences], checker, settings)
    rules = {f["block"]: f["rule_id"] for f in found}
    assert rules == {0: "UTK_EN_ETT", 1: "UTK_MODALVERB_INFINITIV", 2: "UTK_V2", 3: "UTK_DEM_SUBJEKT",
                     4: "UTK_BISATS_ADVERB", 5: "UTK_JATTE"}
    assert {f["category_name"] for f in found} >= {"Kongruens (böjning som hör ihop)", "Ordföljd"}
    correct = ["Jag bor i ett hus nära skolan.", "Jag kan tala svenska.", "Idag går jag till skolan.",
               "Kanske de är rädda.", "Jag tror att han inte kommer i dag.", "Jag är jätteglad."]
    assert review_blocks([Block(s) for s in correct], checker, settings) == []


def test_capitals_mid_sentence_a_missing_att_and_verb_forms(checker, settings):
    sentences = ["Vi hoppas att Jag kan börja i Februari.", "Deltagarna pratar Arabiska hemma.",
                 "Jag vet många deltagare vill fortsätta.", "Det skulle gör att vi förlorar tid.",
                 "Deltagare som titta på mobilen stör.", "Mina kollegor inte har tid.",
                 "Vi samarbetar med Hela Människan i Sverige."]
    found = review_blocks([Block(s) for s in sentences], checker, settings)
    assert [(f["block"], f["rule_id"], f["text"], f["suggestions"][:1]) for f in found] == [
        (0, "UTK_VERSAL_MITT", "Jag", ["jag"]), (0, "UTK_VERSAL_DAG_SPRAK", "Februari", ["februari"]),
        (1, "UTK_VERSAL_DAG_SPRAK", "Arabiska", ["arabiska"]), (2, "UTK_SAKNAT_ATT", "vet", ["vet att"]),
        (3, "UTK_MODALVERB_INFINITIV", "gör", ["göra"]), (4, "UTK_SUBJEKT_INFINITIV", "titta", ["tittar"]),
        (5, "UTK_HUVUDSATS_ADVERB", "inte har", ["har inte"])]
    assert found[0]["message"].startswith("Mitt i en mening skrivs ”Jag” med liten bokstav")
    assert {f["category_name"] for f in found[:3]} == {"Stor eller liten bokstav"}


def test_how_a_paragraph_ends_is_checked_in_paragraphs_only(checker, settings):
    blocks = [Block("Vi träffade deltagarna varje vecka,"), Block("Vi träffade deltagarna varje vecka"),
              Block("Kommer ni ihåg att vi ska skicka rapporten i maj."),
              Block("Vi träffade deltagarna varje vecka,", kind="item"),
              Block("Deltagarna får handledning", kind="item"), Block("Vi följer upp varje vecka", kind="cell"),
              Block("Så arbetar vi med uppföljning", kind="heading"), Block("Hej Anna,"),
              Block("Vi träffade deltagarna varje vecka."), Block("Har ni frågor kan ni ringa oss.")]
    found = review_blocks(blocks, checker, settings)
    assert [(f["block"], f["rule_id"], f["text"], f["suggestions"]) for f in found] == [
        (0, "UTK_SLUTKOMMA", ",", ["."]), (1, "UTK_SLUTPUNKT", "vecka", ["vecka."]),
        (2, "UTK_FRAGETECKEN", ".", ["?"])]
    assert found[0]["message"].startswith("Meningen slutar med kommatecken")
    assert {f["category_name"] for f in found} == {"Skiljetecken"}


def test_a_table_typed_with_tabs_needs_no_full_stop_and_its_months_start_lines(checker, settings):
    """The decision document's budget is a table typed with tabs, its lines joined into one
    paragraph: no missing full stop, and "1.000 Juni" starts a line, not a sentence."""
    blocks = [Block("Tid\tAktivitet\tKostnad Mars\tArbetsgruppsmöte per telefon\t1.000 April\tAvstämningsmöte\t5.000"),
              Block("Vi träffas i Juni och pratar om rapporten.")]
    found = review_blocks(blocks, checker, settings)
    assert [(f["block"], f["text"], f["suggestions"]) for f in found] == [(1, "Juni", ["juni"])]


def test_messages_show_their_suggestions_in_quotation_marks_not_as_markup(checker, settings):
    found = review_blocks([Block("Jag har läst många bok i år.")], checker, settings)
    assert found and all("<" not in f["message"] for f in found)
    assert any("”böcker”" in f["message"] for f in found)


# --- house style ------------------------------------------------------------------------------

HOUSE = ("Vi har t ex fått 10000 kronor, dvs 5% mer än bl a ESF rådet väntade. "
         "Vi erhöll stödet i enlighet med planen - och det gick bra.")


def test_house_style_findings_have_their_own_categories_and_suggestions(checker, settings):
    found = review_blocks([Block(HOUSE)], checker, settings)
    got = {(f["text"], f["category_id"], f["suggestions"][0]) for f in found}
    assert got == {("t ex", "HUSSTIL_FORKORTNING", "t.ex."), ("10000", "HUSSTIL_SIFFROR", "10 000"),
                   ("dvs", "HUSSTIL_FORKORTNING", "dvs."), ("5%", "HUSSTIL_SIFFROR", "5 %"),
                   ("bl a", "HUSSTIL_FORKORTNING", "bl.a."), ("ESF rådet", "HUSSTIL_NAMN", "ESF-rådet"),
                   ("erhöll", "HUSSTIL_KLARSPRAK", "få"), ("i enlighet med", "HUSSTIL_KLARSPRAK", "enligt"),
                   (" - ", "HUSSTIL_TANKSTRECK", " – ")}
    assert all(f["message"] and f["category_name"] for f in found)


def test_a_coordinator_turns_house_style_categories_off(checker, settings):
    quiet = replace(settings, disabled_categories=("HUSSTIL_FORKORTNING", "HUSSTIL_KLARSPRAK"))
    found = review_blocks([Block(HOUSE)], checker, quiet)
    assert {f["category_id"] for f in found} == {"HUSSTIL_SIFFROR", "HUSSTIL_NAMN", "HUSSTIL_TANKSTRECK"}


def test_dates_and_quotation_marks(checker, settings):
    found = review_blocks([Block("Mötet är den 5/3 2026, eller 5:e mars, och heter “Vår framtid”.")], checker, settings)
    got = [(f["text"], f["suggestions"][0]) for f in found]
    assert ("5/3 2026", "5 mars 2026") in got and ("5:e mars", "5 mars") in got and ("“", "”") in got


def test_unknown_keys_in_the_style_and_term_files_name_the_file_and_the_key(config, tmp_path):
    templates = tmp_path / "templates"
    shutil.copytree(config.templates, templates)
    style = templates / "husstil.toml"
    style.write_text(style.read_text(encoding="utf-8").replace("[siffror]", "[siffror]\ngruppera = 4"), encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_review_settings(templates, config.registry)
    assert "husstil.toml" in str(err.value) and "siffror.gruppera" in str(err.value)
    style.write_text((config.templates / "husstil.toml").read_text(encoding="utf-8"), encoding="utf-8")
    terms = templates / "termer.toml"
    terms.write_text(terms.read_text(encoding="utf-8") + '\n[[termer]]\nforedragen = "x"\nvarianter = []\nord = 1\n',
                     encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_review_settings(templates, config.registry)
    assert "termer.toml" in str(err.value) and "ord" in str(err.value)


# --- readability -------------------------------------------------------------------------------

def test_lix_sentence_length_long_sentences_and_passive_share():
    texts = ["Rapporten skrevs av partnerna. Vi hoppas att den blev uppskattad.",
             "Projektet genomförs under året och finansieras av Socialfonden."]
    r = readability(texts, long_sentence_words=7, tagger=open_tagger())
    words, sentences = 18, 3
    assert (r["words"], r["sentences"]) == (words, sentences)
    assert r["lix"] == round(words / sentences + 100 * r["long_words"] / words, 1)
    assert r["level"] == lix_level(r["lix"])
    assert [(s["block"], s["words"]) for s in r["long_sentences"]] == [(1, 8)]
    assert r["passive_verbs"] == 4 and r["verbs"] == 5  # skrevs, uppskattad, genomförs, finansieras; not hoppas
    assert [lix_level(x) for x in (20, 30, 40, 50, 60)] == ["mycket lättläst", "lättläst", "medelsvår", "svår",
                                                            "mycket svår"]


def test_utkast_review_json_prints_readability(tmp_path, capsys):
    from flows.cli import main

    path = tmp_path / "2.1 Stöd.md"
    path.write_text("# Stöd\n\nVi ger stöd till deltagarna varje vecka. Handledarna genomförs utbildning.\n",
                    encoding="utf-8")
    assert main(["review", str(path), "--json"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert body["readability"]["lix"] > 0 and body["readability"]["level"]
    assert body["readability"]["sentences"] == 3


# --- one voice ---------------------------------------------------------------------------------

def test_variants_of_one_term_are_grouped_across_partners(config):
    reports = [
        {"partner": "myrorna", "partner_name": "Myrorna", "piece": "1.1",
         "blocks": ["Vi driver en secondhandbutik. Arbetsförmedlingen anvisar deltagare.",
                    "Vi samarbetar med arbetsförmedlingen om deltagarnas matchning."]},
        {"partner": "erikshjalpen", "partner_name": "Erikshjälpen", "piece": "1.2",
         "blocks": ["Vår second hand-butik säljer kläder och vår second hand butik möbler.",
                    "Vi erbjuder deltagarnas matchning. Deltagarnas-matchning kräver tid."]},
    ]
    groups = {g["preferred"]: g for g in find_variants(reports, load_terms(config.templates))}
    shop = groups["second hand-butik"]
    assert shop["source"] == "termlista"
    assert {f["form"]: f["count"] for f in shop["forms"]} == {"secondhandbutik": 1, "second hand-butik": 1,
                                                               "second hand butik": 1}
    assert shop["forms"][0]["places"][0]["partner_name"] in ("Myrorna", "Erikshjälpen")
    agency = groups["Arbetsförmedlingen"]
    assert {f["form"] for f in agency["forms"]} == {"Arbetsförmedlingen", "arbetsförmedlingen"}
    matching = groups["deltagarnas matchning"]  # not in the term list: the most common form
    assert matching["source"] == "vanligast"
    assert {f["form"]: f["count"] for f in matching["forms"]} == {"deltagarnas matchning": 2,
                                                                  "deltagarnas-matchning": 1}


def test_what_each_report_contributes_is_kept_and_gives_the_same_groups(config):
    """The language page keeps each report's occurrences (cache/sprak/) and groups them across
    reports: kept occurrences, as JSON, give the groups their paragraphs give."""
    from tasks.review.variants import report_occurrences

    terms = load_terms(config.templates)
    reports = [{"partner": "myrorna", "piece": "1.1", "blocks": ["Vår secondhandbutik och vår second hand butik.",
                                                                 "Deltagarnas matchning tar tid."]},
               {"partner": "verdandi", "piece": "4.2", "blocks": ["Deltagarnas-matchning och en second hand-butik."]}]
    kept = [{**r, "blocks": None, "occurrences": json.loads(json.dumps(report_occurrences(r["blocks"], terms)))}
            for r in reports]
    assert find_variants(kept, terms) == find_variants(reports, terms)
    assert {g["preferred"].lower().replace("-", " ") for g in find_variants(kept, terms)} == {
        "second hand butik", "deltagarnas matchning"}


def test_a_capital_that_only_starts_a_sentence_is_no_form_of_its_own():
    """A word written the same way everywhere, once at the start of a sentence, is no group (a
    group of one form said nothing); where a capital is also written mid-sentence it is a form,
    and the form most used after that is the one the page proposes."""
    reports = [{"partner": "myrorna", "piece": "1.1",
                "blocks": ["Verksamheten växer. Sedan dess växer verksamheten.", "Roller. Vi talar om Roller."]},
               {"partner": "verdandi", "piece": "1.2", "blocks": ["Våra roller är tydliga. Roller ändras."]}]
    groups = {g["preferred"]: g for g in find_variants(reports)}
    assert set(groups) == {"Roller"}
    assert {f["form"]: (f["count"], f["preferred"]) for f in groups["Roller"]["forms"]} == {
        "Roller": (3, True), "roller": (1, False)}


def test_a_term_list_variant_is_a_finding_in_the_partners_review(checker, settings):
    found = review_blocks([Block("Vi har en secondhandbutik och samarbetar med arbetsförmedlingen.")], checker, settings)
    assert [(f["text"], f["category_id"], f["suggestions"][0]) for f in found] == [
        ("secondhandbutik", "TERMER", "second hand-butik"), ("arbetsförmedlingen", "TERMER", "Arbetsförmedlingen")]


def test_a_build_reports_house_style_readability_and_groups_the_variants(prefect_harness, tmp_path):
    from flows.build import build_draft

    inbox, out = tmp_path / "inbox", tmp_path / "outputs"
    put(inbox, "myrorna/1.1 Drift.md", "# Drift\n\nVi driver en secondhandbutik i Växjö och erhöll 25000 kronor, "
                                       "t ex för hyran. Arbetsförmedlingen anvisar deltagare.\n")
    put(inbox, "erikshjalpen/1.2 Utmaningar.md", "# Utmaningar\n\nVår second hand butik har 12% fler deltagare "
                                                 "än i fjol. Vi tillhandahåller arbetsträning.\n")
    result = build_draft(inbox=str(inbox), out=str(out), review=True, formats=["html"])
    assert result["published"]
    myrorna = json.loads((out / "review/myrorna/1.1.json").read_text(encoding="utf-8"))
    erik = json.loads((out / "review/erikshjalpen/1.2.json").read_text(encoding="utf-8"))
    assert {f["category_id"] for f in myrorna["findings"]} >= {"HUSSTIL_SIFFROR", "HUSSTIL_FORKORTNING",
                                                               "HUSSTIL_KLARSPRAK", "TERMER"}
    assert {f["category_id"] for f in erik["findings"]} >= {"HUSSTIL_SIFFROR", "HUSSTIL_KLARSPRAK", "TERMER"}
    assert myrorna["readability"]["lix"] > 0 and erik["readability"]["lix"] > 0
    assert "Läsbarhet" in (out / "review/myrorna/1.1.html").read_text(encoding="utf-8")
    status = json.loads((out / "status.json").read_text(encoding="utf-8"))
    assert status["cells"]["myrorna/1.1"]["review"]["readability"]["lix"] == myrorna["readability"]["lix"]
    assert "Läsbarhet" in (out / "status.html").read_text(encoding="utf-8")
    assert result["readability"] and result["readability"][0]["LIX"]
    sprak = json.loads((out / "drafts" / result["version"] / "sprak.json").read_text(encoding="utf-8"))
    shop = next(g for g in sprak["groups"] if g["preferred"] == "second hand-butik")
    assert {p["partner"] for f in shop["forms"] for p in f["places"]} == {"myrorna", "erikshjalpen"}
    page = (out / "drafts" / result["version"] / "sprak.html").read_text(encoding="utf-8")
    assert "second hand butik" in page and "Erikshjälpen" in page and 'lang="sv"' in page


def test_the_language_page_made_beside_the_run_is_the_page_made_in_it(tmp_path, config):
    """A large build writes the language page in a process of its own (flows/beside.py), which
    opens the outputs and the configuration again: the page is the one the run would have written."""
    from flows.beside import write_sprak_in_own_process
    from tasks.review.sprak import write_sprak
    from tasks.storage.local import LocalStorage
    from tests.builders import normalise_inbox

    inbox = tmp_path / "inbox"
    put(inbox, "myrorna/1.1 Drift.md", "# Drift\n\nVår second hand butik. Arbetsförmedlingen hjälper.\n")
    put(inbox, "verdandi/4.2 Motiv.md", "# Motiv\n\nEn secondhandbutik och arbetsförmedlingen.\n")
    _, reports = normalise_inbox(inbox, tmp_path / "out", config)
    out, reports = LocalStorage(tmp_path / "out"), list(reports.values())

    written = write_sprak_in_own_process(out, config, reports, "beside")
    write_sprak(out, config, reports, "here")

    beside, here = (json.loads((tmp_path / "out/drafts" / v / "sprak.json").read_text(encoding="utf-8"))
                    for v in ("beside", "here"))
    assert written == {"groups": 2, "json": "drafts/beside/sprak.json", "html": "drafts/beside/sprak.html"}
    assert beside["groups"] == here["groups"] and beside["version"] == "beside"
    assert {g["preferred"] for g in beside["groups"]} == {"second hand-butik", "Arbetsförmedlingen"}
    page = (tmp_path / "out/drafts/beside/sprak.html").read_text(encoding="utf-8")
    assert "second hand butik" in page and "Verdandi" in page


def test_a_language_page_that_cannot_be_made_beside_the_run_fails_with_its_reason(tmp_path, config):
    """What stopped the process comes back as one line, not a traceback: here a configuration
    folder gone since the run read it."""
    from flows.beside import write_sprak_in_own_process
    from tasks.core.errors import UtkastError
    from tasks.storage.local import LocalStorage

    gone = replace(config, templates=tmp_path / "templates")
    reason = r"^the language page could not be written: ConfigError: .*outline\.toml"
    with pytest.raises(UtkastError, match=reason) as got:
        write_sprak_in_own_process(LocalStorage(tmp_path / "out"), gone, [], "v1")
    assert "Traceback" not in str(got.value) and "\n" not in str(got.value)
    assert not (tmp_path / "out/drafts/v1/sprak.json").exists()


def test_the_language_page_has_a_process_of_its_own_only_where_that_pays():
    """Its start (about 1 s of CPU) is more than a small draft's page costs, and one core has
    no other core to run it on."""
    from flows.beside import BESIDE_FROM, beside

    assert not beside(238, 2) and not beside(BESIDE_FROM - 1, 8)
    assert beside(BESIDE_FROM, 2) and beside(1500, 2)
    assert not beside(1500, 1)


# --- the real corpus -------------------------------------------------------------------------

def test_real_swedish_documents_few_findings_and_both_typos_found(corpus, config, checker, settings):
    from tasks.review.run import review_file

    files = sorted(p for folder in ("swedish", "swedish-text") if (corpus / folder).is_dir()
                   for p in (corpus / folder).iterdir() if p.suffix in (".docx", ".md"))
    if not files:
        pytest.skip("no Swedish documents in the corpus")
    words = findings = 0
    typos = {"karatänperiod": False, "lämligt": False}
    for path in files:
        reviewed, _ = review_file(path, config, checker, settings)
        words += reviewed.words
        findings += len(reviewed.findings)
        for f in reviewed.findings:
            if f["text"] in typos:
                typos[f["text"]] = True
    assert 1000 * findings / words <= 5, f"{findings} findings in {words} words"
    assert all(typos.values()), typos


MIXED_MARKDOWN = """# Rubrik med *betoning*

Ett stycke med "citat", `kod`, $x$, en [länk](https://example.org) och en fotnot.[^1]

[^1]: Fotnoten har **fet** text.

| Delar | Antal |
|---|---|
| Butiker | 12 |

: Tabelltext

- punkt ett
    - inne i listan
1. numrerad

> citat i block

| rad ett
| rad två

Term
: förklaring

![bildtext](bild.png)
"""


def test_block_texts_are_the_texts_of_the_review_blocks(corpus):
    """The language page reads a report's paragraphs with block_texts (no maps back to the
    source): the same texts, in the same order, as blocks_from_pandoc gives the review, for a
    document of every kind of block built here and every document of the shared corpus."""
    from tasks.core.pandoc import pandoc_path
    from tasks.review.text import block_texts, blocks_from_pandoc

    def ast(path_or_text, fmt=None):
        args = [pandoc_path(), "--sandbox", "-t", "json"] + (["-f", fmt] if fmt else [str(path_or_text)])
        done = subprocess.run(args, input=path_or_text.encode() if fmt else None, capture_output=True)
        return json.loads(done.stdout) if done.returncode == 0 else None

    docs = [ast(MIXED_MARKDOWN, "markdown")] + [ast(p) for p in sorted(corpus.rglob("*"))
                                                 if p.suffix in (".docx", ".odt", ".md", ".html", ".rtf")]
    docs = [d for d in docs if d]
    assert len(docs) > 20
    for doc in docs:
        assert block_texts(doc) == [b.text for b in blocks_from_pandoc(doc)]


def test_what_a_report_contributes_is_kept_and_read_back_into_the_same_groups(tmp_path, config):
    """The language page from what each report's batch kept (note_report: words, keys of the
    runs of words, the masked paragraphs for a run that is one word somewhere) has the groups
    its paragraphs give, runs of words written apart included."""
    from tasks.core.pandoc import pandoc_path
    from tasks.intake.normalise import Report
    from tasks.review.sprak import note_report, report_contributions
    from tasks.review.text import block_texts
    from tasks.review.variants import group_variants
    from tasks.storage.local import LocalStorage

    texts = {("myrorna", "1.1"): "Vår second hand butik. Deltagarnas matchning tar tid. Arbetsförmedlingen hjälper.",
             ("verdandi", "4.2"): "Deltagarnas-matchning och arbetsförmedlingen. I praktiken en secondhandbutik."}
    out, terms, reports, blocks = LocalStorage(tmp_path / "out"), load_terms(config.templates), [], []
    for (partner, piece), text in texts.items():
        done = subprocess.run([pandoc_path(), "--sandbox", "-f", "markdown", "-t", "json"], input=text.encode(),
                              capture_output=True, check=True)
        ast, key = json.loads(done.stdout), f"cache/ast/{partner}.json"
        out.write(key, done.stdout)
        note_report(out, key, ast, terms)
        reports.append(Report(partner, piece, f"{partner}/{piece}.md", "0" * 64, "md", "T", 10, 1, 0.0, "c",
                              f"normalised/{partner}/{piece}.md", key, masked_key=key))
        blocks.append({"partner": partner, "partner_name": config.registry.by_slug(partner).short, "piece": piece,
                       "blocks": block_texts(ast)})
    kept = group_variants(report_contributions(out, reports, config, terms))
    assert kept == find_variants(blocks, terms)
    forms = {g["preferred"]: {f["form"] for f in g["forms"]} for g in kept}
    assert forms["deltagarnas-matchning"] == {"deltagarnas matchning", "deltagarnas-matchning"}  # a run read back
    assert forms["Arbetsförmedlingen"] == {"Arbetsförmedlingen", "arbetsförmedlingen"}
