"""The knowledge base over HTTP: add, replace, list and remove documents.

Documents travel as JSON (text, or base64 for PDFs) rather than multipart so a
client needs nothing beyond a JSON encoder, and one request can add some
documents and remove others. Ingestion is the same incremental path as
``interlock ingest``: unchanged documents cost a hash lookup, changed ones
replace exactly their chunks, and cached answers citing a replaced or
removed chunk are dropped.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field, model_validator

from interlock.agent import Agent
from interlock.errors import InvalidInput
from interlock.memory.knowledge import SourceDocument
from interlock.memory.loaders import SUFFIXES, format_of
from interlock.server.auth import Principal, require

router = APIRouter(prefix="/v1/knowledge", tags=["knowledge"])


class SourceNotFound(InvalidInput):
    status = 404


# With API keys the tenant is the key's; naming another one is 403 (auth.Principal).
Tenant = Field(None, min_length=1, max_length=128, pattern=r"^[\w.\-]+$")
Editor = Annotated[Principal, Depends(require("knowledge"))]


class DocumentIn(BaseModel):
    source: str = Field(
        min_length=1,
        max_length=512,
        description="The document's name, unique per tenant; its suffix picks the parser.",
        examples=["handbook/vpn.md"],
    )
    content: str | None = Field(None, description="The document as text (Markdown, text, HTML).")
    content_base64: str | None = Field(None, description="The document's bytes, base64 (PDF).")
    tags: list[str] = Field(default_factory=list, max_length=32)

    @model_validator(mode="after")
    def _one_body(self) -> DocumentIn:
        if (self.content is None) == (self.content_base64 is None):
            raise ValueError("give exactly one of content and content_base64")
        if format_of(self.source) is None:
            raise ValueError(
                f"unsupported format: {self.source} (supported: {', '.join(sorted(SUFFIXES))})"
            )
        return self

    def data(self) -> bytes:
        if self.content is not None:
            return self.content.encode("utf-8")
        try:
            return base64.b64decode(self.content_base64 or "", validate=True)
        except binascii.Error:
            raise InvalidInput(f"{self.source}: content_base64 is not valid base64") from None


class IngestRequest(BaseModel):
    tenant: str | None = Tenant
    documents: list[DocumentIn] = Field(default_factory=list, max_length=1000)
    remove: list[str] = Field(
        default_factory=list, max_length=10_000, description="Sources to delete."
    )

    @model_validator(mode="after")
    def _something(self) -> IngestRequest:
        if not self.documents and not self.remove:
            raise ValueError("nothing to do: give documents and/or remove")
        sources = [d.source for d in self.documents]
        if len(set(sources)) != len(sources):
            raise ValueError("a source appears twice in documents")
        if set(sources) & set(self.remove):
            raise ValueError("a source is both in documents and in remove")
        return self


class IngestResponse(BaseModel):
    files_added: list[str]
    files_unchanged: list[str]
    files_skipped: list[str]
    files_removed: list[str]
    files_failed: dict[str, str] = Field(
        description="Documents that could not be read, with the reason; the others were "
        "ingested (check this, as with any bulk API)."
    )
    chunks_written: int
    chunks_embedded: int
    seconds: float


def _agent(request: Request) -> Agent:
    agent: Agent = request.app.state.agent
    return agent


@router.post("/documents", response_model=IngestResponse)
async def ingest(body: IngestRequest, request: Request, caller: Editor) -> IngestResponse:
    """Add or replace documents and remove others, in one tenant's knowledge base."""
    documents = [SourceDocument(d.source, d.data(), tuple(d.tags)) for d in body.documents]
    report = await _agent(request).ingest_documents(
        documents, tenant=caller.tenant_for(body.tenant), remove=body.remove
    )
    fields: dict[str, Any] = asdict(report)
    fields.pop("removed_chunk_ids")
    return IngestResponse(**fields)


@router.get("/sources")
async def sources(
    request: Request,
    caller: Editor,
    tenant: str | None = Query(None, min_length=1, max_length=128),
    prefix: str = Query("", max_length=512),
) -> dict[str, str]:
    """Every ingested source of the tenant (optionally under a prefix) → its SHA-256."""
    knowledge = _agent(request).components.knowledge
    return await knowledge.sources(caller.tenant_for(tenant), prefix=prefix)


@router.delete("/sources/{source:path}", status_code=204)
async def delete_source(
    source: str,
    request: Request,
    caller: Editor,
    tenant: str | None = Query(None, min_length=1, max_length=128),
) -> None:
    """Remove one document and its chunks (404 if the tenant has no such source)."""
    agent = _agent(request)
    tenant = caller.tenant_for(tenant)
    if source not in await agent.components.knowledge.sources(tenant, prefix=source):
        raise SourceNotFound(f"no document {source!r} in tenant {tenant!r}")
    await agent.ingest_documents([], tenant=tenant, remove=[source])
