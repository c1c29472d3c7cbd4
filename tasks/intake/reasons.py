"""Swedish texts for partners: why a file was not accepted and what to do instead.

This is the edge where named errors become words a partner reads.
"""

from __future__ import annotations

from tasks.core.errors import Rejected
from tasks.core.formats import others_sv

SEND_INSTEAD = f"Skicka rapporten som Word-dokument (.docx) – det fungerar bäst. Vi tar också emot {others_sv()}."

KIND_SV = {
    "pdf": "en PDF-fil",
    "doc": "ett Word-dokument i det gamla formatet (.doc)",
    "ole": "en fil i ett äldre Office-format",
    "image": "en bild",
    "archive": "ett komprimerat arkiv (till exempel .zip)",
    "pages": "ett Pages-dokument",
    "spreadsheet": "ett kalkylark eller en presentation",
    "binary": "binärdata som inte är text",
    "extension": "en filtyp vi inte kan läsa",
}
REAL_SV = {"docx": "ett Word-dokument", "odt": "ett OpenDocument-dokument", "rtf": "RTF-text",
           "text": "vanlig text", "md": "vanlig text"}


def _mb(n: int) -> str:
    return f"{n / (1024 * 1024):.0f} MB"


def explain(err: Rejected, *, valid_pieces: list[str] | None = None, partners: list[str] | None = None) -> str:
    """The Swedish reason for ``err``, written for the partner who sent the file."""
    f = err.facts
    code = err.code
    if code == "empty_file":
        return "Filen är tom (0 byte). Spara rapporten igen och ladda upp den på nytt."
    if code == "too_large":
        return (f"Filen är för stor ({_mb(f['size'])}; gränsen är {_mb(f['limit'])}). "
                "Minska bildernas storlek (i Word: markera en bild och välj Komprimera bilder) och ladda upp "
                "filen igen.")
    if code == "unsupported_format":
        kind = f.get("kind", "extension")
        if kind == "mismatch":
            return (f"Filnamnet slutar på {f['ext']} men filen innehåller {REAL_SV.get(f['real'], 'något annat')}. "
                    "Öppna rapporten i sitt program och välj Spara som med rätt filtyp. " + SEND_INSTEAD)
        if kind == "doc":
            return ("Filen är i Words gamla format (.doc). Öppna den i Word och välj Spara som → "
                    "Word-dokument (.docx), och ladda upp den nya filen.")
        if kind == "pdf":
            return ("PDF-filer kan inte läsas in i det gemensamma utkastet eftersom texten inte går att "
                    "redigera. " + SEND_INSTEAD)
        return f"Filen är {KIND_SV.get(kind, KIND_SV['extension'])}, som vi inte kan läsa in. " + SEND_INSTEAD
    if code == "encrypted":
        return ("Filen är lösenordsskyddad eller krypterad och kan inte öppnas. Ta bort lösenordet "
                "(i Word: Arkiv → Information → Skydda dokument) och ladda upp filen igen.")
    if code == "macro":
        return ("Filen innehåller makron (.docm eller inbäddad VBA-kod) och tas inte emot av "
                "säkerhetsskäl. Spara den som vanligt Word-dokument (.docx) utan makron.")
    if code == "archive_bomb" and f.get("max_entries"):
        return (f"Filen består av {f['entries']} delar, fler än de {f['max_entries']} som ett dokument får ha, och "
                "tas inte emot. Kontrollera att det är rätt fil; spara om rapporten som ett vanligt Word-dokument "
                "(.docx), gärna med färre inbäddade bilder och objekt.")
    if code == "archive_bomb":
        return (f"Filen packas upp till mer än {_mb(f['limit'])} och tas inte emot. Kontrollera "
                "att det är rätt fil; spara om rapporten som ett vanligt Word-dokument (.docx).")
    if code == "corrupt":
        return ("Filen är skadad eller ofullständig och kan inte öppnas (den kanske inte laddades upp "
                "helt). Spara rapporten igen och ladda upp den på nytt.")
    if code == "unsafe_content":
        return ("Filen innehåller delar som vi inte läser av säkerhetsskäl (till exempel inbäddade objekt "
                "eller externa XML-referenser). Spara rapporten som ett vanligt Word-dokument (.docx).")
    if code == "conversion_failed":
        return ("Filen kunde inte omvandlas till text. Öppna den och spara den som ett vanligt "
                "Word-dokument (.docx), och ladda upp den igen.")
    if code == "changed_during_run":
        return ("Filen ändrades eller togs bort medan den lästes in. Den läses in igen inom kort; "
                "du behöver inte göra något.")
    if code == "no_text":
        return "Filen innehåller ingen text som kan tas med i utkastet. Kontrollera att det är rätt fil."
    if code == "unknown_piece":
        ids = ", ".join(valid_pieces or [])
        return ("Vi kan inte se vilken delrapport filen hör till. Börja filnamnet med delrapportens "
                f"nummer, till exempel \"1.3 Kvalitetssäkring.docx\". Giltiga nummer: {ids}.")
    if code == "unknown_partner":
        return (f"Mappen \"{f.get('folder', '')}\" hör inte till någon partner i förstudien. "
                "Lägg filen i din organisations egen mapp"
                + (f" ({', '.join(partners)})." if partners else "."))
    if code == "no_partner_folder":
        return ("Filen ligger direkt i inkorgen och inte i en partnermapp. Lägg den i din "
                "organisations mapp, till exempel inbox/myrorna/1.3 Kvalitetssäkring.docx.")
    if code == "hidden_file":
        return ("Filnamnet börjar med punkt eller ~$ (en dold eller tillfällig fil, till exempel en "
                "låsfil från Word) och läses inte in. Spara rapporten under ett vanligt namn.")
    if code == "unsafe_name":
        return ("Filens namn innehåller otillåtna delar (till exempel \"..\", snedstreck, styrtecken eller "
                "en genväg till en annan fil). Spara rapporten under ett vanligt namn, till exempel "
                "\"1.3 Kvalitetssäkring.docx\", och ladda upp den igen.")
    if code == "no_reviewer_folder":
        return ("Filen ligger direkt i mappen feedback. Lägg den i en egen mapp med ditt namn, till "
                "exempel feedback/anna-svensson/utkast med kommentarer.docx.")
    if code == "feedback_not_docx":
        return ("Synpunkter på utkastet tas emot som Word-dokument (.docx): ladda ner utkastet som Word-fil "
                "från granskningssidan, skriv kommentarer eller ändra med Spåra ändringar påslaget, spara "
                "och lägg filen här igen.")
    if code == "not_a_draft":
        return ("Texten i filen stämmer inte med något publicerat utkast i förstudien, så synpunkterna kan "
                "inte föras till rätt delrapport. Lägg in det utkast (utkast.docx) som du laddade ner från "
                "granskningssidan, med dina kommentarer och spårade ändringar i.")
    return "Filen kunde inte tas emot. Kontakta samordnaren."
