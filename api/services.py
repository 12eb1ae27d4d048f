"""What the API's handlers are given: built once by the composition root."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Engine

from api.auth import TokenVerifier
from commands.app import Docket
from commands.attachments import AttachmentRules, BlobStore


@dataclass(frozen=True)
class Services:
    app: Docket
    engine: Engine
    tokens: TokenVerifier
    blobs: BlobStore
    attachment_rules: AttachmentRules = AttachmentRules()
