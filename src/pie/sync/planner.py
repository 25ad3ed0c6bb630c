"""The sync planner: pure. Given, for one record, the last agreed values (the base), PIE's
current values with when and by whom they changed, and the CRM's current values (if the CRM
changed the record in this pass), it decides what to push, what to apply to PIE, which base
values become agreed now and which conflicts to log. No I/O; the engine (pie.sync.engine)
does the reads and writes around it.

The merge, per field (sync-and-notion.md §3.2):

| PIE vs base | CRM vs base | action |
|---|---|---|
| same | same | nothing |
| changed | same | push PIE's value |
| same | changed | apply the CRM's value to PIE |
| changed | changed, equal | agree silently (no conflict) |
| changed | changed, different | conflict: the field's ownership decides; one log row |

Ownership (one policy: ``OwnershipPolicy.sync_ownership``):

* agent: PIE's value wins; a CRM change is overwritten (and logged when it differed).
* human: the CRM's value wins, PIE's never pushed; a PIE change is overwritten (and logged).
* shared: the later change wins. The CRM's ``last_edited_time`` is page-level and floored to
  its precision, on a clock that may be skewed: the CRM change happened in
  ``[t - skew, t - skew + precision)`` on PIE's clock. A PIE change within ``margin`` of that
  interval is *concurrent*, and a concurrent conflict goes to the human (CRM) side.

A CRM record edited by someone since PIE last saw it whose value for a field equals the base
may still have been changed and changed back (A -> B -> A, between two of PIE's reads): no
value or timestamp the CRM returns tells. When PIE overwrites such a field, the overwrite is
logged (``page_edit_may_include_field``, PIE's value wins: most such edits are of other
fields) rather than silent, when that edit is concurrent with or later than PIE's change.

Deletes (the one rule, both directions): a delete beats an agent's edit; a human's edit beats
an agent's delete; between a human delete and a human edit, the delete wins and the edit is
logged for review. Nothing is hard-deleted by the sync: a CRM trash makes the link a tombstone
(PIE keeps its record, logged); a PIE delete trashes the CRM record.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from uuid import UUID

from pie.domain.crm_fields import Ownership, RecordKind
from pie.domain.ownership import HUMAN

Value = str | float | None

#: the winner of a conflict
LOCAL = "pie"
REMOTE = "crm"

#: pseudo-field of record-level log rows (trash, delete, restore)
RECORD = "_record"
#: the value a delete or a trash stands for in a log row
DELETED = "(deleted)"
TRASHED = "(trashed)"


class Rule(StrEnum):
    AGENT_OWNED = "agent_owned"
    HUMAN_OWNED = "human_owned"
    SHARED_LATER = "shared_later_wins"
    SHARED_CONCURRENT = "shared_concurrent_to_human"
    REMOTE_TRASH = "remote_trash_wins"  # a CRM trash beats PIE's edits (a tombstone)
    LOCAL_DELETE = "local_delete_wins"
    HUMAN_EDIT_BEATS_AGENT_DELETE = "human_edit_beats_agent_delete"
    #: PIE writes a field whose CRM value shows no change, on a record someone edited since
    #: PIE last saw it in full: that edit may have re-set this field (A -> B -> A)
    UNSEEN_PAGE_EDIT = "page_edit_may_include_field"
    #: a second CRM record carrying the PIE id of a record linked to another one (a create
    #: applied whose answer PIE never read, the record hidden from PIE before PIE found it,
    #: created again, then visible again): PIE's own copy that nobody edited since is trashed
    DUPLICATE_TRASHED = "duplicate_by_sync_trashed"
    #: ... one a person made or edited is kept, never linked, and left for review
    DUPLICATE_KEPT = "duplicate_kept_for_review"
    #: a record detached after a 404 (hidden from PIE) is visible again: linked again
    VISIBLE_AGAIN = "visible_again_relinked"


def duplicate_rule(created_by: str | None, last_edited_by: str, self_actor: str) -> Rule:
    """What happens to a second CRM record carrying the PIE id of a record already linked to
    another one. PIE's integration made it and was its last editor (no person touched it since
    it was made): it is PIE's own copy, trashed (softly: the CRM keeps it in its trash).
    Anything else (a person made it, e.g. by duplicating a page, or edited it): kept as it is,
    not linked, left for a person to review. Either way the linked record stays the one PIE
    syncs, and PIE never makes a second record or link for it."""
    if self_actor and created_by == self_actor and last_edited_by == self_actor:
        return Rule.DUPLICATE_TRASHED
    return Rule.DUPLICATE_KEPT


@dataclass(frozen=True, slots=True)
class Timing:
    """How to tell concurrent changes apart. ``precision``: the CRM's timestamp precision;
    ``skew``: the CRM clock minus PIE's, as measured; ``margin``: extra slack (clock-skew
    uncertainty plus poll latency)."""

    precision: float = 60.0
    skew: float = 0.0
    margin: float = 60.0


@dataclass(frozen=True, slots=True)
class Local:
    """PIE's side of a record now. ``values`` None: the record is gone from PIE (deleted by
    ``deleted_by``). ``changed_at`` / ``changed_by``: per field, the latest change seen on
    the change feed since the base (absent: not changed in this window)."""

    values: Mapping[str, Value] | None
    changed_at: Mapping[str, datetime] = field(default_factory=dict)
    changed_by: Mapping[str, str] = field(default_factory=dict)
    deleted_by: str | None = None


@dataclass(frozen=True, slots=True)
class Remote:
    """The CRM's side of a record, as read in this pass. ``unseen_edit``: someone other than
    PIE edited the record since PIE last saw it in full (its ``last_edited_time`` and
    ``last_edited_by`` moved): values compared with the base cannot show a field that was
    changed and changed back (A -> B -> A), so a field PIE overwrites is logged."""

    values: Mapping[str, Value]
    last_edited_time: datetime
    last_edited_by: str
    in_trash: bool = False
    unseen_edit: bool = False


@dataclass(frozen=True, slots=True)
class PlannedConflict:
    field: str
    base: Value
    local: Value
    remote: Value
    winner: str
    rule: Rule
    local_time: datetime | None = None
    remote_time: datetime | None = None


@dataclass(frozen=True, slots=True)
class Plan:
    """What to do for one record. ``push``: fields to write to the CRM (their base becomes the
    pushed value only once the CRM accepted the write); ``apply``: fields to write to PIE;
    ``agree``: base values agreed now (applied values and equal changes); ``trash_remote``:
    trash the CRM record; ``tombstone``: stop syncing (the CRM trashed it); ``recreate_local``:
    write the CRM's values back into PIE (a human edit beat an agent's delete)."""

    push: dict[str, Value] = field(default_factory=dict)
    apply: dict[str, Value] = field(default_factory=dict)
    agree: dict[str, Value] = field(default_factory=dict)
    conflicts: tuple[PlannedConflict, ...] = ()
    trash_remote: bool = False
    tombstone: bool = False
    recreate_local: bool = False

    @property
    def idle(self) -> bool:
        return not (
            self.push
            or self.apply
            or self.agree
            or self.conflicts
            or self.trash_remote
            or self.tombstone
            or self.recreate_local
        )


_MISSING: object = object()


def plan_record(
    *,
    kind: RecordKind,
    pie_id: UUID,
    fields: Mapping[str, Ownership],
    base: Mapping[str, Value],
    local: Local,
    remote: Remote | None,
    timing: Timing = Timing(),
    refresh_all_from_remote: bool = False,
) -> Plan:
    """Plan one record. ``fields``: the synced fields and their ownership; ``remote`` None:
    the CRM did not change the record in this pass (its values are the base).
    ``refresh_all_from_remote`` exists for the tests' broken variants only."""
    del kind, pie_id  # identify the record in the caller's logs; the plan does not need them
    if local.values is None:
        return _plan_local_delete(fields, base, local, remote)
    if remote is not None and remote.in_trash:
        return _plan_remote_trash(fields, base, local, remote)
    push: dict[str, Value] = {}
    apply: dict[str, Value] = {}
    agree: dict[str, Value] = {}
    conflicts: list[PlannedConflict] = []
    for name, owner in fields.items():
        b = base.get(name)
        has_base = name in base
        lv = local.values.get(name)
        rv = remote.values.get(name) if remote is not None else b
        if remote is not None and name not in remote.values:
            rv = b
        local_changed = (lv != b) or not has_base
        remote_changed = remote is not None and ((rv != b) or not has_base)
        if not has_base and remote is None:
            # never agreed and the CRM side unknown: PIE's value goes out (a new link)
            remote_changed = False
        if owner is Ownership.HUMAN:
            if rv != lv:
                apply[name] = rv
                if local_changed and has_base and lv != b and rv != lv:
                    conflicts.append(
                        _conflict(name, b, lv, rv, REMOTE, Rule.HUMAN_OWNED, local, remote)
                    )
            if rv != b or not has_base:
                agree[name] = rv
            continue
        if not local_changed and not remote_changed:
            continue
        if local_changed and not remote_changed:
            if lv != rv or not has_base:
                push[name] = lv
                if _maybe_reset(remote, local.changed_at.get(name), timing) and has_base:
                    conflicts.append(
                        _conflict(name, b, lv, rv, LOCAL, Rule.UNSEEN_PAGE_EDIT, local, remote)
                    )
            else:
                agree[name] = lv
            continue
        if remote_changed and not local_changed:
            if owner is Ownership.AGENT:
                if rv != lv:
                    push[name] = lv
                    conflicts.append(
                        _conflict(name, b, lv, rv, LOCAL, Rule.AGENT_OWNED, local, remote)
                    )
                else:
                    agree[name] = lv
                continue
            if rv != lv:
                apply[name] = rv
            agree[name] = rv
            continue
        # both changed
        if lv == rv:
            agree[name] = lv
            continue
        if owner is Ownership.AGENT:
            push[name] = lv
            conflicts.append(_conflict(name, b, lv, rv, LOCAL, Rule.AGENT_OWNED, local, remote))
            continue
        winner, rule = _later(local.changed_at.get(name), remote, timing)
        if winner == LOCAL:
            push[name] = lv
        else:
            apply[name] = rv
            agree[name] = rv
        conflicts.append(_conflict(name, b, lv, rv, winner, rule, local, remote))
    if refresh_all_from_remote and remote is not None:  # a broken variant, for the tests
        for name in fields:
            if name not in push and name not in apply:
                agree[name] = remote.values.get(name)
    return Plan(push, apply, agree, tuple(conflicts))


def _maybe_reset(remote: Remote | None, local_at: datetime | None, timing: Timing) -> bool:
    """An unseen edit of the record by someone else, concurrent with or later than PIE's
    change of a field: had it re-set that field, that edit would have won."""
    if remote is None or not remote.unseen_edit:
        return False
    return _later(local_at, remote, timing)[0] == REMOTE


def _later(local_at: datetime | None, remote: Remote | None, timing: Timing) -> tuple[str, Rule]:
    """Who changed last, on PIE's clock; concurrent changes go to the CRM (human) side."""
    if remote is None:
        return LOCAL, Rule.SHARED_LATER
    if local_at is None:
        return REMOTE, Rule.SHARED_LATER
    start = remote.last_edited_time - timedelta(seconds=timing.skew)
    end = start + timedelta(seconds=timing.precision)
    slack = timedelta(seconds=timing.margin)
    if start - slack <= local_at <= end + slack:
        return REMOTE, Rule.SHARED_CONCURRENT
    return (LOCAL, Rule.SHARED_LATER) if local_at > end else (REMOTE, Rule.SHARED_LATER)


def _conflict(
    name: str,
    base: Value,
    local_value: Value,
    remote_value: Value,
    winner: str,
    rule: Rule,
    local: Local,
    remote: Remote | None,
) -> PlannedConflict:
    return PlannedConflict(
        name,
        base,
        local_value,
        remote_value,
        winner,
        rule,
        local.changed_at.get(name),
        remote.last_edited_time if remote is not None else None,
    )


def _plan_remote_trash(
    fields: Mapping[str, Ownership], base: Mapping[str, Value], local: Local, remote: Remote
) -> Plan:
    """The CRM trashed the record: the trash wins over PIE's edits (agents' or people's,
    logged for review); the link becomes a tombstone; PIE keeps its record."""
    assert local.values is not None
    conflicts = [
        PlannedConflict(
            name,
            base.get(name),
            local.values.get(name),
            TRASHED,
            REMOTE,
            Rule.REMOTE_TRASH,
            local.changed_at.get(name),
            remote.last_edited_time,
        )
        for name in fields
        if name in base and local.values.get(name) != base.get(name)
    ]
    conflicts.append(
        PlannedConflict(
            RECORD,
            "live",
            "live",
            "trashed",
            REMOTE,
            Rule.REMOTE_TRASH,
            None,
            remote.last_edited_time,
        )
    )
    return Plan(conflicts=tuple(conflicts), tombstone=True)


def _plan_local_delete(
    fields: Mapping[str, Ownership],
    base: Mapping[str, Value],
    local: Local,
    remote: Remote | None,
) -> Plan:
    """PIE deleted the record. A human's CRM edit since the base beats an agent's delete (the
    record comes back into PIE from the CRM); otherwise the CRM record is trashed."""
    human_edits = (
        {}
        if remote is None or remote.in_trash
        else {
            name: remote.values.get(name)
            for name in fields
            if name in base and remote.values.get(name) != base.get(name)
        }
    )
    by_agent = local.deleted_by != HUMAN
    if human_edits and by_agent:
        conflicts = tuple(
            PlannedConflict(
                name,
                base.get(name),
                DELETED,
                value,
                REMOTE,
                Rule.HUMAN_EDIT_BEATS_AGENT_DELETE,
                None,
                remote.last_edited_time if remote else None,
            )
            for name, value in human_edits.items()
        )
        return Plan(conflicts=conflicts, recreate_local=True)
    lost = [
        PlannedConflict(
            name,
            base.get(name),
            DELETED,
            value,
            LOCAL,
            Rule.LOCAL_DELETE,
            None,
            remote.last_edited_time if remote else None,
        )
        for name, value in human_edits.items()
    ]
    lost.append(PlannedConflict(RECORD, "live", "deleted", "live", LOCAL, Rule.LOCAL_DELETE))
    conflicts = tuple(lost)
    return Plan(conflicts=conflicts, trash_remote=remote is None or not remote.in_trash)
