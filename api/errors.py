"""Every error answers {"status_code", "code", "message"} and, where there is one, "field".

A database that is down or too slow is a 503 `database_unavailable`, and too many commands at
once a 503 `overloaded`, each with Retry-After. Their messages never carry the database's own
error, which may name hosts, ports and users."""

from __future__ import annotations

import logging
import re
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from sqlalchemy.exc import InterfaceError as SQLInterfaceError
from sqlalchemy.exc import OperationalError as SQLOperationalError
from sqlalchemy.exc import TimeoutError as SQLPoolTimeout

from commands.errors import DATABASE_DOWN, DatabaseUnavailable, Overloaded
from domain.errors import DomainError, Forbidden, Invalid, NotFound, Refused, TooLarge, UnsupportedType

log = logging.getLogger(__name__)

NAMED_FIELD = re.compile(r"field `([^`]+)`")

DOMAIN_STATUS = ((Invalid, 400), (Forbidden, 403), (NotFound, 404), (Refused, 409), (TooLarge, 413), (UnsupportedType, 415))
HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    503: "service_unavailable",
}
# Seconds a client is asked to wait before trying again.
RETRY_DATABASE = 5
RETRY_OVERLOADED = 1


def error_response(
    status_code: int, code: str, message: str, field: str | None = None, headers: dict[str, str] | None = None
) -> Response[dict[str, Any]]:
    body: dict[str, Any] = {"status_code": status_code, "code": code, "message": message}
    if field:
        body["field"] = field
    return Response(body, status_code=status_code, headers=headers)


def domain_error(_: Request, error: DomainError) -> Response[dict[str, Any]]:
    status = next((s for kind, s in DOMAIN_STATUS if isinstance(error, kind)), 409)
    return error_response(status, error.code, error.message, error.field)


def validation_error(_: Request, error: ValidationException) -> Response[dict[str, Any]]:
    details = error.extra if isinstance(error.extra, list) else []
    first = details[0] if details and isinstance(details[0], dict) else {}
    message = first.get("message") or error.detail
    field = first.get("key")
    named = NAMED_FIELD.search(message)
    if field == "data":  # the body as a whole: name the field msgspec names, if it does
        field = named.group(1) if named else "body"
    elif field and named:  # a field missing inside a nested object: name it in full
        field = f"{field}.{named.group(1)}"
    return error_response(400, "invalid_input", f"{field}: {message}" if field else message, field)


def http_error(_: Request, error: HTTPException) -> Response[dict[str, Any]]:
    code = HTTP_CODES.get(error.status_code, "error")
    return error_response(error.status_code, code, error.detail)


def overloaded(_: Request, error: Overloaded) -> Response[dict[str, Any]]:
    return error_response(503, "overloaded", Overloaded.message, headers={"Retry-After": str(RETRY_OVERLOADED)})


def database_unavailable(request: Request, error: Exception) -> Response[dict[str, Any]]:
    """The runner's own timeout says whether the command was saved; any other database error
    came before a command reached a transaction, or from a read."""
    log.warning("database unavailable on %s %s: %s", request.method, request.url.path, type(error).__name__)
    message = error.message if isinstance(error, DatabaseUnavailable) else "The database did not answer; try again shortly."
    return error_response(503, "database_unavailable", message, headers={"Retry-After": str(RETRY_DATABASE)})


def unexpected_error(request: Request, error: Exception) -> Response[dict[str, Any]]:
    log.exception("unexpected error on %s %s", request.method, request.url.path, exc_info=error)
    return error_response(500, "internal_error", "Something went wrong on our side; it has been logged.")


EXCEPTION_HANDLERS = {
    DomainError: domain_error,
    ValidationException: validation_error,
    HTTPException: http_error,
    Overloaded: overloaded,
    DatabaseUnavailable: database_unavailable,
    **dict.fromkeys((*DATABASE_DOWN, SQLOperationalError, SQLInterfaceError, SQLPoolTimeout), database_unavailable),
    Exception: unexpected_error,
}
