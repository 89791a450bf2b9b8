"""`interlock serve`, with callers told apart by a test header (``python -m`` this).

Tenant isolation needs two callers; until API keys resolve to tenants, the
app's ``authenticate`` hook (``interlock.server.auth.principal``) stands in
for them here: ``x-test-tenant: acme`` acts as tenant ``acme`` with every
scope, and no header as tenant ``default``. The rest is what ``interlock
serve`` runs: the same app, settings and sample knowledge.
"""

from __future__ import annotations

import uvicorn
from fastapi import Request

from interlock.config import Settings
from interlock.server.app import create_app
from interlock.server.auth import DEFAULT_TENANT, Principal

TENANT_HEADER = "x-test-tenant"


async def by_header(request: Request) -> Principal:
    tenant = request.headers.get(TENANT_HEADER, DEFAULT_TENANT)
    return Principal(tenant=tenant, key_id=f"test-{tenant}")


def main() -> None:
    settings = Settings.load()
    app = create_app(settings, ingest_sample=True)
    app.state.authenticate = by_header
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning")


if __name__ == "__main__":
    main()
