"""A ticket's attachments: multipart upload, listing and download."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote
from uuid import UUID

from litestar import Controller, Response, get, post
from litestar.datastructures import UploadFile
from litestar.params import FromPath, MultipartBody

from api.tickets import Caller, TicketId, Used
from commands.attachments import add_attachment
from commands.structs import AddAttachment, Attached
from projections.conversation_queries import AttachmentView, get_attachment, list_attachments


@dataclass
class AttachmentUpload:
    file: UploadFile
    kind: Literal["ticket", "completion"] = "ticket"


class AttachmentController(Controller):
    path = "/api/v1/tickets/{ticket_id:uuid}/attachments"
    tags = ["attachments"]

    @post("/", operation_id="addAttachment", summary="Upload a photo or file (multipart field `file`, optional `kind`)")
    async def add(self, ticket_id: TicketId, data: MultipartBody[AttachmentUpload], actor: Caller, services: Used) -> Attached:
        content = await data.file.read()
        command = AddAttachment(
            actor=actor,
            ticket_id=ticket_id,
            name=data.file.filename,
            content_type=data.file.content_type,
            content=content,
            kind=data.kind,
        )
        return await asyncio.to_thread(add_attachment, services.app, services.blobs, services.attachment_rules, command)

    @get("/", operation_id="listAttachments", summary="A ticket's attachments, oldest first")
    async def list(self, ticket_id: TicketId, actor: Caller, services: Used) -> list[AttachmentView]:
        return await services.reads.run(list_attachments, actor, ticket_id)

    @get("/{attachment_id:uuid}", operation_id="downloadAttachment", summary="An attachment's content", sync_to_thread=True)
    def download(self, ticket_id: TicketId, attachment_id: FromPath[UUID], actor: Caller, services: Used) -> Response[bytes]:
        attachment = get_attachment(services.engine, actor, ticket_id, attachment_id)
        return Response(
            services.blobs.read(attachment.sha256),
            media_type=attachment.content_type,
            headers={
                "Content-Disposition": _disposition(attachment.name),
                "X-Content-Type-Options": "nosniff",
                "ETag": f'"{attachment.sha256}"',
            },
        )


def _disposition(name: str) -> str:
    """The file name for any browser: plain ASCII, and the exact name in RFC 5987 form."""
    plain = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in name)
    return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(name)}"
