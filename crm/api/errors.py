"""The API's error contract: one JSON shape for every refusal, and where each comes from.

Every error answers ``{"detail": "<a sentence>"}``; a 422 adds ``errors``, the messages
by field (``"__all__"`` for those of no one field), as the pages' forms word them; a 409
adds ``current_version``. The statuses are the pages' (docs/API.md lists them).
"""

from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import ValidationError as DjangoValidationError
from ninja import Schema

NOT_FOUND = "Not found. It may have been deleted."
INVALID = "Some values were refused: see errors."


class ErrorOut(Schema):
    detail: str


class InvalidOut(Schema):
    detail: str
    errors: dict[str, list[str]]


class ConflictOut(Schema):
    detail: str
    current_version: int


class Invalid(Exception):
    """422: the values, the filters or the cursor were refused; ``errors`` by field."""

    def __init__(self, errors: dict[str, list[str]], detail: str = INVALID):
        super().__init__(detail)
        self.detail = detail
        self.errors = errors

    @classmethod
    def from_form(cls, form) -> "Invalid":
        """A bound, invalid form's errors, its messages as the page shows them."""
        return cls({field: list(messages) for field, messages in form.errors.items()})

    @classmethod
    def from_django(cls, error: DjangoValidationError, fields=()) -> "Invalid":
        """A model rule the services checked again (the lead changed meanwhile): its
        messages under their fields, or under ``__all__`` for a field not in ``fields``."""
        errors: dict[str, list[str]] = {}
        if hasattr(error, "error_dict"):
            for field, messages in error.message_dict.items():
                key = field if field in fields else NON_FIELD_ERRORS
                errors.setdefault(key, []).extend(messages)
        else:
            errors[NON_FIELD_ERRORS] = list(error.messages)
        return cls(errors)


class RateLimited(Exception):
    """429: the token (or the session) used up its requests for this window."""

    def __init__(self, verdict):
        super().__init__("Too many requests.")
        self.verdict = verdict


class Unauthenticated(Exception):
    """401: no credentials, or a token that is unknown, revoked or of an inactive user."""

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


#: The error responses every operation may answer, for the OpenAPI schema.
COMMON = {400: ErrorOut, 401: ErrorOut, 429: ErrorOut}
#: And those of every operation that reads one row by its id, or writes.
READ_ONE = {**COMMON, 404: ErrorOut}
WRITE = {**COMMON, 403: ErrorOut, 422: InvalidOut}
WRITE_ONE = {**WRITE, 404: ErrorOut}
