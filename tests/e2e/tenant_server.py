"""`interlock serve`, with callers told apart by a test header (``python -m`` this).

Tenant isolation needs two callers. API keys themselves are tested in
test_security_limits.py; here the app's access control is replaced by one
that reads a test header, so the LangGraph API tests need no key set-up:
``x-test-tenant: acme`` acts as tenant ``acme`` with every scope and no
limits, and no header as tenant ``default``. The rest is what ``interlock
serve`` runs: the same app, settings and sample knowledge.
"""

from __future__ import annotations

import uvicorn
from fastapi import Request

from interlock.config import Settings
from interlock.server.app import create_app
from interlock.server.auth import DEFAULT_TENANT, Principal
from interlock.server.keys import ALL_SCOPES, ApiKey

TENANT_HEADER = "x-test-tenant"


class HeaderAccess:
    """Stands in for ``AccessControl``: the tenant from a header, no limits."""

    async def authenticate(self, request: Request) -> Principal:
        tenant = request.headers.get(TENANT_HEADER, DEFAULT_TENANT)
        key = ApiKey(key_id=f"test-{tenant}", tenant=tenant, scopes=ALL_SCOPES)
        return Principal(tenant=tenant, key=key, scopes=ALL_SCOPES)

    async def admit_run(self, principal: Principal) -> Principal:
        return principal

    async def settle(self, principal: Principal, usage: object) -> None:
        return None


def main() -> None:
    settings = Settings.load()
    app = create_app(settings, ingest_sample=True)
    app.state.access = HeaderAccess()
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning")


if __name__ == "__main__":
    main()
