"""Pipedrive deal participants (v1 ``/deals/{id}/participants``) become the deal's
stakeholders besides its person, on SQLite and PostgreSQL; a person added later is picked up
by the next incremental sync."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from pie.domain.model import EntityKind
from pie.sources.pipedrive.emulator import Emulator
from pie.sources.pipedrive.world import World
from tests.dbfixtures import Database
from tests.integration.sources.test_pipedrive_sync import emulator, live, run, world

__all__ = ["emulator", "world"]


async def _stakeholders(db: Database, tenant: UUID, world: World) -> dict[int, set[int]]:
    """Deal id -> the person ids of its stakeholders, as stored."""
    async with db.uow(tenant) as uow:
        deals = await uow.refs.of_source(EntityKind.DEAL, "pipedrive")
        contacts = await uow.refs.of_source(EntityKind.CONTACT, "pipedrive")
        people = {ident: int(ext) for ext, ident in contacts.items()}
        out: dict[int, set[int]] = {}
        for ext, ident in deals.items():
            out[int(ext)] = {people[s.contact_id] for s in await uow.stakeholders.for_deal(ident)}
        return out


def _expected(world: World) -> dict[int, set[int]]:
    persons = {p["id"] for p in live(world, "persons")}
    out: dict[int, set[int]] = {}
    for deal in live(world, "deals"):
        taking_part = {*world.participants.get(deal["id"], [])}
        if deal.get("person_id"):
            taking_part.add(deal["person_id"])
        out[deal["id"]] = taking_part & persons
    return out


async def test_participants_become_stakeholders(
    db: Database, emulator: Emulator, world: World
) -> None:
    tenant = (await db.new_tenant()).tenant.id
    report = await run(db, tenant, emulator)
    assert report.rejected == ()
    stored = await _stakeholders(db, tenant, world)
    assert stored == _expected(world)
    assert any(len(people) > 1 for people in stored.values())  # more than the deal's person

    deal: dict[str, Any] = live(world, "deals")[0]
    newcomer = next(p["id"] for p in live(world, "persons") if p["id"] not in stored[deal["id"]])
    world.add_participant(deal["id"], newcomer)

    await run(db, tenant, emulator)

    assert newcomer in (await _stakeholders(db, tenant, world))[deal["id"]]
    assert await _stakeholders(db, tenant, world) == _expected(world)


async def test_participants_are_asked_for_only_where_others_take_part(
    db: Database, emulator: Emulator, world: World
) -> None:
    """The deals list asks for ``participants_count`` (v2 sends it only then), so the v1
    participants call is made for the deals that have others than their person, not for all."""
    alone = next(d for d in live(world, "deals") if d.get("person_id"))["id"]
    with world.lock:  # a deal whose person is the only one taking part
        deal = world.records["deals"][alone]
        world.participants[alone] = [deal["person_id"]]
        deal["participants_count"] = 1
    tenant = (await db.new_tenant()).tenant.id
    await run(db, tenant, emulator)
    others = {
        d["id"]
        for d in live(world, "deals")
        if d["participants_count"] > (1 if d.get("person_id") else 0)
    }
    asked = {
        int(line.split("/")[4])
        for line in emulator.log
        if line.split("?")[0].endswith("/participants")
    }
    assert others and alone not in others and asked == others
    assert await _stakeholders(db, tenant, world) == _expected(world)
