"""What the API's handlers are given: built once by the composition root."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Engine

from api.auth import TokenVerifier
from commands.app import Docket


@dataclass(frozen=True)
class Services:
    app: Docket
    engine: Engine
    tokens: TokenVerifier
