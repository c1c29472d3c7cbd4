"""Named domain errors.

Each error that rejects a partner's file carries a machine-readable ``code`` and the
facts needed to explain it. The Swedish text a partner reads is produced at the edge,
by :func:`tasks.intake.reasons.explain`.
"""

from __future__ import annotations


class UtkastError(Exception):
    """Base class for every error utkast raises on purpose."""


class ConfigError(UtkastError):
    """A configuration file in the repository is invalid; names the file and the key."""

    def __init__(self, file: str, key: str, problem: str):
        self.file, self.key, self.problem = file, key, problem
        super().__init__(f"{file}: {key}: {problem}")


class StorageError(UtkastError):
    """Infrastructure failure: the inbox or output store could not be read or written."""


class PersonalDataFound(UtkastError):
    """Reports hold personal data and ``settings.toml`` says to stop rather than mask:
    no draft is published. ``reports`` are labels such as ``1.3 (Myrorna)``."""

    def __init__(self, reports: list[str]):
        self.reports = reports
        super().__init__("personal data found in " + ", ".join(reports) + "; [personal_data] action = \"stop\" "
                         "in templates/settings.toml, so no draft was published. Where: the tracker and the "
                         "partners' review reports; the partners remove it, or set action = \"mask\".")


class CheckerUnavailable(UtkastError):
    """The language checker could not be reached or started (infrastructure)."""


class Rejected(UtkastError):
    """A file from the inbox is not accepted. ``code`` selects the Swedish reason."""

    code = "rejected"

    def __init__(self, detail: str = "", **facts):
        self.detail = detail
        self.facts = facts
        super().__init__(f"{self.code}: {detail}" if detail else self.code)

    def __reduce__(self):
        # Keep detail and facts when pickled (conversion results are cached by Prefect).
        return (self.__class__, (self.detail,), dict(self.__dict__))

    @staticmethod
    def from_saved(code: str, detail: str, facts: dict | None = None) -> Rejected:
        """A rejection again from its saved form (``code``, ``detail``, ``facts``)."""
        for cls in Rejected.__subclasses__():
            if cls.code == code:
                return cls(detail, **(facts or {}))
        err = Rejected(detail, **(facts or {}))
        err.code = code
        return err


class UnknownPartner(Rejected):
    code = "unknown_partner"


class NoPartnerFolder(Rejected):
    code = "no_partner_folder"


class UnsafeName(Rejected):
    code = "unsafe_name"


class HiddenFile(Rejected):
    code = "hidden_file"


class UnknownPiece(Rejected):
    code = "unknown_piece"


class EmptyFile(Rejected):
    code = "empty_file"


class FileTooLarge(Rejected):
    code = "too_large"


class UnsupportedFormat(Rejected):
    code = "unsupported_format"


class EncryptedDocument(Rejected):
    code = "encrypted"


class MacroDocument(Rejected):
    code = "macro"


class ArchiveTooLarge(Rejected):
    code = "archive_bomb"


class CorruptFile(Rejected):
    code = "corrupt"


class UnsafeContent(Rejected):
    code = "unsafe_content"


class ConversionFailed(Rejected):
    code = "conversion_failed"


class NoText(Rejected):
    code = "no_text"


class NoReviewerFolder(Rejected):
    """A reviewer's file lies directly in ``feedback/``, not in a folder of their own."""

    code = "no_reviewer_folder"


class NotWordFeedback(Rejected):
    """A reviewer returned something other than a Word document."""

    code = "feedback_not_docx"


class NotADraft(Rejected):
    """A returned Word document whose text matches no published draft."""

    code = "not_a_draft"


class ChangedDuringRun(Rejected):
    """The file changed or vanished between screening and conversion; read again next run."""

    code = "changed_during_run"
