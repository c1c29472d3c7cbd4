"""Personal data in partner reports: find it, and mask it before a report reaches the draft.

The reports describe people in work training. A personal identity number, phone number,
e-mail address, street address or a participant's name that a partner pastes into a report
must not be published to reviewers. This module finds them and replaces each with a mask
(``[personnummer borttaget]``) in the report's pandoc AST, which is what ``sections/`` and
``drafts/`` are made from. Nothing is sent anywhere: it is regular expressions and two
libraries with their data inside the wheel.

- Personal identity numbers (personnummer, samordningsnummer = day + 60), 10 or 12 digits,
  with ``-``/``+``/space or without a separator: a candidate counts only with a valid date
  and Luhn check digit (``python-stdnum``: ``stdnum.se.personnummer`` and ``stdnum.luhn``), so
  dates, amounts and organisation numbers (month + 20, e.g. 802002-4280) are left alone.
- Phone numbers: Google's libphonenumber (``phonenumbers``) finds Swedish numbers in text
  (``PhoneNumberMatcher``, region SE, valid numbers only); only numbers written as a person
  would (starting with 0 or +) of the types in ``personuppgifter.toml`` (service numbers
  such as 0771-… are kept).
- E-mail addresses (except role addresses like ``info@``), also in ``mailto:`` links.
- Street addresses: a street and house number followed by postcode and town, or a street
  name with a known suffix (``-gatan``, ``-vägen``, …) and a house number.
- Names next to a word that marks a participant (``deltagaren Anna Svensson``, ``Omar,
  en av praktikanterna``), a name in a table column headed ``Deltagare``/``Namn``, and
  then every other mention of those names in the same report.
- Extra regular expressions from ``personuppgifter.toml``.

Pandoc splits text into ``Str``/``Space`` tokens, so matching runs over the text of a whole
inline sequence (a paragraph, heading, table cell, footnote paragraph) with a map back to
the tokens; a match over several tokens leaves the mask in the first and removes the rest.

A :class:`Finding` holds the value found: it is shown only to the partner who wrote it
(their review report). Everything the coordinator sees (tracker, manifest, artifacts, logs)
comes from :func:`summarise`: kinds, counts and places, never values.
"""
