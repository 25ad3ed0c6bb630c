"""HubSpot through the connector registry and the connection use cases: `pie connect hubspot`
with a private-app token or OAuth against the emulator, a full sync, and a refreshed access
token kept in the encrypted credential for the next run."""

from __future__ import annotations

from uuid import UUID

import pytest

from pie.domain.errors import PermanentError
from pie.services import connections as svc
from pie.sources import registry
from tests.dbfixtures import Database
from tests.hubspot_helpers import TOKEN, differences, expected, rig, stored
from tests.integration.connect.conftest import deps_over


async def _tenant(db: Database) -> UUID:
    return (await db.new_tenant("hubspot")).tenant.id


async def test_connect_with_a_private_app_token_and_sync(db: Database) -> None:
    assert "hubspot" in registry.connectors() and "hubspot" in registry.emulators()
    deps, tenant = deps_over(db), await _tenant(db)
    async with rig(6, page_size=5) as r:
        with pytest.raises(PermanentError, match="refused the credentials"):
            await svc.connect(
                deps, tenant, "hubspot", {"token": "pat-wrong"}, base_url=r.server.url
            )
        c, checked = await svc.connect(
            deps, tenant, "hubspot", {"token": TOKEN}, base_url=r.server.url
        )
        assert checked == "portal 24680135 (na1), 1 deal pipeline(s)"
        result = await svc.run_sync(deps, tenant, c.id, full=True)
        assert result.status == "succeeded" and result.failed == []
        assert not differences(expected(r.portal), await stored(db.uow(tenant)))
        assert result.streams["deals"].read == 6


async def test_oauth_tokens_are_refreshed_and_kept(db: Database) -> None:
    deps, tenant = deps_over(db), await _tenant(db)
    async with rig(4, page_size=5) as r:
        values = {
            "client_id": r.emulator.client_id,
            "client_secret": r.emulator.client_secret,
            "refresh_token": "emulator-refresh-token",
        }
        c, _ = await svc.connect(
            deps, tenant, "hubspot", values, auth="refresh-token", base_url=r.server.url
        )
        secret = await deps.credentials(tenant).get(c.credential)
        assert secret is not None and "access_token" in secret  # the check's token, kept
        first = secret["access_token"].reveal()
        await svc.run_sync(deps, tenant, c.id, full=True)
        r.emulator.expire_access_tokens()
        r.portal.edit("deals", r.portal.live("deals")[0].id, dealname="Renamed")
        result = await svc.run_sync(deps, tenant, c.id)
        assert result.status == "succeeded"
        secret = await deps.credentials(tenant).get(c.credential)
        assert secret is not None and secret["access_token"].reveal() != first
        assert not differences(expected(r.portal), await stored(db.uow(tenant)))
