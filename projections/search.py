"""Search over the tickets read model: whole words, prefixes of words, and parts of tracking
numbers, titles and descriptions, ranked with whole-word matches first.

Each plain term of `q` must be found, as a word prefix (`pothol` finds "pothole") through the
full-text index or as a fragment anywhere (`00012` finds TKT-000123) through the trigram index;
`"a phrase"` must be found as a phrase and `-word` must not be found. A sensitive ticket is found
by its tracking number alone: its words rest sealed (projections/ticket_tables.py SEARCH_TEXT).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, case, func, literal_column, not_, or_
from sqlalchemy.sql.elements import ColumnElement

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
    if term.phrase:
        found = tickets.c.search.bool_op("@@")(func.phraseto_tsquery(CONFIG, term.text))
    elif term.negated:
        found = _words(term.text)
    else:
        found = or_(_prefix_match(term.text), literal_column(SEARCH_TEXT).ilike(f"%{_escaped(term.text)}%"))
    return not_(found) if term.negated else found


def _words(text: str) -> ColumnElement[bool]:
    return tickets.c.search.bool_op("@@")(func.plainto_tsquery(CONFIG, text))


def _prefix_match(text: str) -> ColumnElement[bool]:
    return tickets.c.search.bool_op("@@")(_prefixes(text)) if WORD.search(text) else literal_column("false")


def _prefixes(text: str) -> Any:
    """Every word of the text as a prefix: `'pothol':* & 'scho':*`. Words are runs of letters and
    digits, so nothing of the caller's text reaches tsquery syntax."""
    words = [w.lower() for w in WORD.findall(text)]
    return func.to_tsquery(CONFIG, " & ".join(f"'{w}':*" for w in words) if words else "")


def _escaped(text: str) -> str:
    """The text as a LIKE pattern matching itself: its %, _ and backslashes taken literally."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
