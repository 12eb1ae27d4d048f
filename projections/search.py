"""Search over the tickets read model: whole words, prefixes of words, and parts of tracking
numbers, titles and descriptions, ranked with whole-word matches first.

Each plain term of `q` must be found, as a word prefix (`pothol` finds "pothole") through the
full-text index or as a fragment anywhere (`00012` finds TKT-000123) through the trigram index;
`"a phrase"` must be found as a phrase and `-word` must not be found. A sensitive ticket is found
by its tracking number alone: its words rest sealed (projections/ticket_tables.py SEARCH_TEXT).

Under row-level security the indexes are out of reach of the search's own conditions: `@@` and
ILIKE are not leakproof, so PostgreSQL applies them only after the row policy, to every row of the
tenant (a city's million tickets, for one word). So each term that must be found is found by
`docket_ticket_matches`, a function that runs as the tables' owner, for the tenant of the
caller's session alone, and returns ids; the policy then applies to the rows of those ids, read
through the primary key.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from psycopg import Cursor
from psycopg.sql import SQL, Identifier, Literal
from sqlalchemy import and_, any_, bindparam, case, func, not_, null, select
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.sql.elements import ColumnElement

from projections.row_security import ROLE, role_exists
from projections.ticket_tables import LIVE, SEARCH_TEXT

tickets = LIVE.tickets
# One term: an optionally negated "quoted phrase" or run of non-blanks.
TERM = re.compile(r'(-?)"([^"]*)"?|(-?)(\S+)')
WORD = re.compile(r"[^\W_]+")  # letters and digits
CONFIG = "simple"


@dataclass(frozen=True)
class Term:
    text: str
    phrase: bool
    negated: bool


@dataclass(frozen=True)
class Search:
    where: ColumnElement[bool]
    ranking: list[Any]  # most relevant first


def terms_of(q: str) -> list[Term]:
    found = []
    for match in TERM.finditer(q):
        minus_phrase, phrase, minus_word, word = match.groups()
        if phrase is not None:
            if phrase.strip():
                found.append(Term(phrase.strip(), phrase=True, negated=bool(minus_phrase)))
        elif word and word != "-":
            found.append(Term(word, phrase=False, negated=bool(minus_word)))
    return found


def search(q: str) -> Search | None:
    """The condition and the ranking of a search, or None when `q` holds no term."""
    terms = terms_of(q)
    if not terms:
        return None
    where = and_(*(_matches(term) for term in terms))
    plain = [t for t in terms if not t.phrase and not t.negated]
    if not plain:  # phrases alone: ranked as full-text search ranks them
        return Search(where=where, ranking=[func.ts_rank(tickets.c.search, func.websearch_to_tsquery(CONFIG, q)).desc()])
    whole = and_(*(_words(t.text) for t in plain))
    ranked = func.ts_rank(tickets.c.search, _prefixes(" ".join(t.text for t in plain)))
    return Search(where=where, ranking=[case((whole, 0), else_=1), ranked.desc()])


def _matches(term: Term) -> ColumnElement[bool]:
    if term.negated:
        return not_(tickets.c.search.bool_op("@@")(func.phraseto_tsquery(CONFIG, term.text)) if term.phrase else _words(term.text))
    if term.phrase:
        return _narrowed(func.phraseto_tsquery(CONFIG, term.text), null())
    return _narrowed(_prefixes(term.text) if WORD.search(term.text) else null(), f"%{_escaped(term.text)}%")


def _narrowed(words: Any, fragment: Any) -> ColumnElement[bool]:
    """The tickets of the tenant (the `tenant` parameter every list binds) whose search vector
    matches the words or whose text holds the fragment (None: words alone), as the indexes find
    them: the term's own condition, evaluated once, by docket_ticket_matches."""
    found = func.docket_ticket_matches(bindparam("tenant"), words, fragment).column_valued("found", UUID(as_uuid=True))
    # An array, computed once: `id = ANY(...)` is what the primary key's index answers, policy or not.
    return tickets.c.id == any_(func.array(select(found).scalar_subquery()))


def _words(text: str) -> ColumnElement[bool]:
    return tickets.c.search.bool_op("@@")(func.plainto_tsquery(CONFIG, text))


def _prefixes(text: str) -> Any:
    """Every word of the text as a prefix: `'pothol':* & 'scho':*`. Words are runs of letters and
    digits, so nothing of the caller's text reaches tsquery syntax."""
    words = [w.lower() for w in WORD.findall(text)]
    return func.to_tsquery(CONFIG, " & ".join(f"'{w}':*" for w in words) if words else "")


def _escaped(text: str) -> str:
    """The text as a LIKE pattern matching itself: its %, _ and backslashes taken literally."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


FUNCTION = "docket_ticket_matches"
MATCHES = SQL(
    "CREATE OR REPLACE FUNCTION {function}(tenant_name text, words tsquery, fragment text) RETURNS SETOF uuid"
    " LANGUAGE sql STABLE SECURITY DEFINER SET search_path = {schema}, pg_temp ROWS 100 AS {body}"
)
# $1 the tenant, $2 the words, $3 the fragment. Called as the API's role: the tenant its session
# reads as, whatever $1 says; as Docket (no role set), $1.
MATCH = f"search @@ $2 OR {SEARCH_TEXT} ILIKE $3"  # what the full-text and trigram indexes answer
MATCHES_BODY = (
    "SELECT id FROM tickets WHERE tenant = CASE current_setting('role') WHEN 'none' THEN $1"
    f" ELSE current_setting('docket.tenant', true) END AND ({MATCH})"
)


def create_search_function(curs: Cursor[Any], schema: str) -> None:
    """Makes (or remakes, when this code words it otherwise) the function search narrows by, runnable
    by the API's role alone. Its body names `tickets`, resolved at each call: a rebuild's swap of the
    tables keeps it working."""
    stamp = "docket " + hashlib.sha256(MATCHES_BODY.encode()).hexdigest()[:16]
    curs.execute("SELECT obj_description(to_regproc(%s), 'pg_proc') AS stamp", (f"{schema}.{FUNCTION}",))
    row = curs.fetchone()
    if row is not None and row["stamp"] == stamp:
        return
    function = Identifier(schema, FUNCTION)
    curs.execute(MATCHES.format(function=function, schema=Identifier(schema), body=Literal(MATCHES_BODY)))
    signature = SQL("{}(text, tsquery, text)").format(function)
    curs.execute(SQL("REVOKE ALL ON FUNCTION {} FROM PUBLIC").format(signature))
    if role_exists(curs):
        curs.execute(SQL("GRANT EXECUTE ON FUNCTION {} TO {}").format(signature, Identifier(ROLE)))
    curs.execute(SQL("COMMENT ON FUNCTION {} IS {}").format(signature, Literal(stamp)))
