"""Field-level ownership: who may overwrite which field of a record, and what a write changes.

Every field of an account, contact, deal or stakeholder remembers the *origin* that wrote it
last and when (its provenance). An origin is a source's name (``salesforce``, ``hubspot``,
``file``, ``notion``, ...), ``human`` (a person's edit) or ``pie`` (a value PIE derived:
qualification, scores, detections).

A write says which fields it *carries*. A field it does not carry is left alone (absent is not
empty); a carried field that is empty clears the stored value. A carried field that differs
from the stored value is written only if the policy lets the incoming origin replace the origin
that wrote the stored value; otherwise the stored value is kept and the refusal is reported as
a ``Kept``.

The default precedence: human > any source > pie. Equal ranks replace each other (the later
write wins). Values PIE derives (a deal's qualification and detection confidence, a
stakeholder's political scores and their sources) are PIE's by default: human > pie > source,
so an import that happens to carry them cannot clobber PIE's evidence. A tenant may configure a
different order per field (``OwnershipPolicy``).

Everything here is pure: the caller supplies the stored values, their provenance and "now".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from pie.domain.crm_fields import FIELDS, Ownership
from pie.domain.errors import InvalidInput
from pie.domain.model import EntityKind

HUMAN = "human"
PIE = "pie"
#: The rank of an origin class in the default policy: higher beats lower.
DEFAULT_RANKS: Mapping[str, int] = {HUMAN: 3, "source": 2, PIE: 1}

#: Fields PIE derives: PIE's own unless a person says otherwise (human > pie > source).
DERIVED_FIELDS: frozenset[str] = frozenset(
    {
        "deal.qualification",
        "deal.detection_confidence",
        "stakeholder.scores",
        "stakeholder.score_sources",
    }
)
DERIVED_ORDER: tuple[str, ...] = (HUMAN, PIE, "source")

#: The CRM sync origins and their default field categories: "<origin>:<entity>.<field>".
SYNC_ORIGINS: tuple[str, ...] = ("notion",)
DEFAULT_SYNC: Mapping[str, Ownership] = {
    f"{origin}:{kind.value}.{spec.name}": spec.ownership
    for origin in SYNC_ORIGINS
    for kind, specs in FIELDS.items()
    for spec in specs
}

#: Provenance of a record: field -> (origin, when it was written, ISO 8601).
Provenance = dict[str, list[str]]


def origin_class(origin: str) -> str:
    """``human``, ``pie`` or ``source``."""
    return origin if origin in (HUMAN, PIE) else "source"


def check_origin(origin: str) -> str:
    name = origin.strip()
    if not name or len(name) > 64:
        raise InvalidInput(f"origin must be 1-64 characters, not {origin!r}", field="origin")
    return name


@dataclass(frozen=True, slots=True)
class Kept:
    """A field write the policy refused: the stored value of ``kept_origin`` stays."""

    entity: EntityKind
    entity_id: UUID
    field: str
    kept_origin: str
    refused_origin: str

    def to_dict(self) -> dict[str, str]:
        return {
            "entity": self.entity.value,
            "id": str(self.entity_id),
            "field": self.field,
            "kept_origin": self.kept_origin,
            "refused_origin": self.refused_origin,
        }


@dataclass(frozen=True, slots=True)
class OwnershipPolicy:
    """Which origin may replace which, per field.

    ``orders`` maps ``"<entity>.<field>"`` (e.g. ``"deal.stage"``) or ``"<entity>.*"`` to an
    ordered list of origins or origin classes, strongest first (``["human", "salesforce",
    "source", "pie"]``). An origin not named in a field's order ranks below every named one.
    Fields without an order use the default: human > source > pie (for ``DERIVED_FIELDS``:
    human > pie > source).
    """

    orders: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: per "<crm origin>:<entity>.<field>", the field's category in a two-way sync with that
    #: CRM (overrides of ``DEFAULT_SYNC``)
    sync: Mapping[str, Ownership] = field(default_factory=dict)

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> OwnershipPolicy:
        """From ``{"deal.stage": ["human", "salesforce", "pie"], ...}``; raises InvalidInput."""
        orders: dict[str, tuple[str, ...]] = {}
        sync: dict[str, Ownership] = {}
        for key, value in doc.items():
            if ":" in str(key):
                crm, _, target = str(key).partition(":")
                entity, _, name = target.partition(".")
                if not crm or not name or entity not in _ENTITY_NAMES:
                    raise InvalidInput(
                        f"sync key {key!r} must be '<crm>:<entity>.<field>'", field=str(key)
                    )
                if isinstance(value, list | tuple) and len(value) == 1:
                    value = value[0]
                try:
                    sync[str(key)] = Ownership(str(value))
                except ValueError:
                    raise InvalidInput(
                        "must be one of agent, human, shared", field=str(key)
                    ) from None
                continue
            entity, _, name = str(key).partition(".")
            if not name or entity not in _ENTITY_NAMES:
                raise InvalidInput(
                    f"policy key {key!r} must be '<entity>.<field>' or '<entity>.*' with an "
                    f"entity of {', '.join(sorted(_ENTITY_NAMES))}",
                    field=str(key),
                )
            if not isinstance(value, list | tuple) or not all(isinstance(o, str) for o in value):
                raise InvalidInput("must be a list of origin names", field=str(key))
            orders[str(key)] = tuple(check_origin(o) for o in value)
        return cls(orders, sync)

    def to_document(self) -> dict[str, list[str]]:
        """Orders as lists of origins; sync categories as one-item lists (``["shared"]``)."""
        doc = {key: list(order) for key, order in sorted(self.orders.items())}
        doc.update({key: [value.value] for key, value in sorted(self.sync.items())})
        return doc

    def sync_ownership(self, entity: str, field_name: str, crm: str) -> Ownership | None:
        """The category of ``entity.field`` in a two-way sync with ``crm`` (None: not synced
        with it)."""
        key = f"{crm}:{entity}.{field_name}"
        return self.sync.get(key) or DEFAULT_SYNC.get(key)

    def rank(self, entity: EntityKind, field_name: str, origin: str) -> int:
        key = f"{entity.value}.{field_name}"
        order = self.orders.get(key) or self.orders.get(f"{entity.value}.*")
        if order is None and key in DERIVED_FIELDS:
            order = DERIVED_ORDER
        if order is None:
            return DEFAULT_RANKS[origin_class(origin)]
        for position, name in enumerate(order):
            if name in (origin, origin_class(origin)):
                return len(order) - position
        return 0

    def may_replace(self, entity: EntityKind, field_name: str, incoming: str, stored: str) -> bool:
        if incoming == stored:
            return True
        for crm, other in ((incoming, stored), (stored, incoming)):
            category = self.sync_ownership(entity.value, field_name, crm)
            if category is not None and origin_class(other) != "source":
                if category is Ownership.SHARED:
                    return True
                if category is Ownership.HUMAN:
                    return incoming == crm
                return incoming == other  # agent-owned: pie and human beat the CRM
        return self.rank(entity, field_name, incoming) >= self.rank(entity, field_name, stored)


DEFAULT_POLICY = OwnershipPolicy()

_ENTITY_NAMES = frozenset(
    k.value
    for k in (EntityKind.ACCOUNT, EntityKind.CONTACT, EntityKind.DEAL, EntityKind.STAKEHOLDER)
)


def is_empty(value: Any) -> bool:
    return value is None or value == "" or (isinstance(value, dict | list | tuple) and not value)


@dataclass(frozen=True, slots=True)
class Merge:
    """What one write does to one stored record."""

    values: dict[str, Any]  # the record's values after the write
    changed: dict[str, tuple[Any, Any]]  # field -> (old, new), for fields that changed
    provenance: Provenance
    kept: tuple[Kept, ...] = ()


def merge(
    *,
    entity: EntityKind,
    entity_id: UUID,
    stored: Mapping[str, Any],
    provenance: Mapping[str, list[str]],
    incoming: Mapping[str, Any],
    carried: Iterable[str],
    origin: str,
    at: str,
    policy: OwnershipPolicy = DEFAULT_POLICY,
    passive: frozenset[str] = frozenset(),
) -> Merge:
    """Apply the ``carried`` fields of ``incoming`` to ``stored``.

    ``passive`` fields (``updated_at``) follow the write: they are written when something
    else changed and never count as a change themselves."""
    values = dict(stored)
    prov: Provenance = {k: list(v) for k, v in provenance.items()}
    changed: dict[str, tuple[Any, Any]] = {}
    kept: list[Kept] = []
    stamp = [origin, at]
    for name in carried:
        if name in passive or name not in incoming:
            continue
        new, old = incoming[name], stored.get(name)
        if new == old:
            continue
        owner = prov.get(name)
        if owner and not is_empty(old) and not policy.may_replace(entity, name, origin, owner[0]):
            kept.append(Kept(entity, entity_id, name, owner[0], origin))
            continue
        values[name] = new
        changed[name] = (old, new)
        prov[name] = stamp
    if changed:
        for name in passive:
            if name in incoming and name in carried:
                values[name] = incoming[name]
    return Merge(values, changed, prov, tuple(kept))


def created(
    *,
    values: Mapping[str, Any],
    carried: Iterable[str],
    origin: str,
    at: str,
    skip: frozenset[str] = frozenset(),
) -> tuple[dict[str, tuple[Any, Any]], Provenance]:
    """The change and provenance of a new record: every carried, non-empty field."""
    changed: dict[str, tuple[Any, Any]] = {}
    prov: Provenance = {}
    stamp = [origin, at]
    for name in carried:
        value = values.get(name)  # absent: as empty
        if value is None or value == "" or name in skip:
            continue
        if isinstance(value, dict | list | tuple) and not value:
            continue
        changed[name] = (None, value)
        prov[name] = stamp
    return changed, prov
