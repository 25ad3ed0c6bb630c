"""Deleting a tenant deletes its rows, also in the tables an import fills, which have no
foreign key to ``tenants`` (migration 0010: a trigger on ``tenants`` deletes them)."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import text

from pie.adapters.db.engine import make_engine
from pie.domain.model import EntityKind, ExternalRef
from tests.contract import records as r
from tests.dbfixtures import Database

IMPORTED = (
    "accounts",
    "contacts",
    "deals",
    "stakeholders",
    "activities",
    "stage_transitions",
    "external_refs",
    "changes",
)


async def _fill(db: Database, t: UUID) -> None:
    acc = r.account(t)
    con = r.contact(t, acc.id)
    deal = r.deal(t, acc.id)
    act = r.activity(t, deal.id, account_id=acc.id)
    async with db.uow(t) as uow:
        await uow.accounts.upsert_many([acc])
        await uow.contacts.upsert_many([con])
        await uow.deals.upsert_many([deal])
        await uow.stakeholders.upsert_many([r.stakeholder(t, con.id, deal_id=deal.id)])
        await uow.activities.upsert_many([act])
        await uow.transitions.upsert_many([r.transition(t, deal.id, trigger_activity_id=act.id)])
        await uow.refs.add_many(
            [
                ExternalRef(
                    tenant_id=t,
                    kind=EntityKind.DEAL,
                    source="crm",
                    external_id="D1",
                    entity_id=deal.id,
                )
            ]
        )
        await uow.commit()


async def _counts(db: Database, t: UUID) -> dict[str, int]:
    engine = make_engine(db.admin_url)  # the owner: every tenant's rows
    try:
        async with engine.connect() as conn:
            return {
                table: int(
                    (
                        await conn.execute(
                            text(f"SELECT count(*) FROM {table} WHERE tenant_id = :t"),
                            {"t": t.hex if db.kind == "sqlite" else t},
                        )
                    ).scalar_one()
                )
                for table in IMPORTED
            }
    finally:
        await engine.dispose()


async def test_deleting_a_tenant_deletes_its_imported_rows_and_no_other_tenants(
    db: Database,
) -> None:
    gone = (await db.new_tenant()).tenant.id
    kept = (await db.new_tenant()).tenant.id
    await _fill(db, gone)
    await _fill(db, kept)
    before = await _counts(db, kept)
    assert all(n > 0 for n in before.values())
    assert await _counts(db, gone) == before

    engine = make_engine(db.admin_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text("DELETE FROM tenants WHERE id = :t"),
                {"t": gone.hex if db.kind == "sqlite" else gone},
            )
    finally:
        await engine.dispose()

    assert await _counts(db, gone) == dict.fromkeys(IMPORTED, 0)
    assert await _counts(db, kept) == before
