"""Domain errors. Each carries a machine-readable code and a sentence a person can act on.

The API maps the kinds to HTTP statuses: Invalid 400, Forbidden 403, NotFound 404, Refused 409,
TooLarge 413, UnsupportedType 415.
"""

from __future__ import annotations


class DomainError(Exception):
    code = "domain_error"

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        if code is not None:
            self.code = code


class Invalid(DomainError):
    code = "invalid"


class Forbidden(DomainError):
    code = "forbidden"


class NotFound(DomainError):
    code = "not_found"


class Refused(DomainError):
    code = "refused"


class TransitionNotAllowed(Refused):
    code = "transition_not_allowed"


class VersionConflict(Refused):
    code = "version_conflict"


class TicketNotFound(NotFound):
    code = "ticket_not_found"

    def __init__(self, ticket_id: object) -> None:
        super().__init__(f"No ticket {ticket_id} exists.")


class TooLarge(DomainError):
    code = "too_large"


class UnsupportedType(DomainError):
    code = "unsupported_media_type"
