"""From a source's stage names to PIE's canonical stages.

A name is looked up, in this order, in the tenant's overrides for the source
(``[sources.<source>]`` of a mapping file), the tenant's general overrides (``[stages]``),
the source's defaults (``DEFAULTS``), and PIE's canonical names and aliases (``parse_stage``).
A name none of them knows is inferred from stage metadata when the source gives it
(closed and won -> closed_won, closed and not won -> closed_lost, an open stage by its
probability or its place in the pipeline). Whatever is still unknown is remembered in
``StageMapper.unmapped``, with a best guess where one can be made, so the caller can report
every unknown name at once and offer a mapping file to fill in (``suggestion_toml``).

Names are matched ignoring case and runs of whitespace. Pure: parsing a mapping file's text is
here, reading and writing files is the importer's job.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field

from pie.domain.errors import InvalidInput
from pie.domain.stages import ALL_STAGES, DEFAULT_PROBABILITY, OPEN_PIPELINE, Stage, parse_stage

_S = Stage

#: Each source's stock stage names (API names and labels) and where they land.
DEFAULTS: dict[str, dict[str, Stage]] = {
    "salesforce": {
        "Prospecting": _S.LEAD,
        "Qualification": _S.QUALIFICATION,
        "Needs Analysis": _S.DISCOVERY,
        "Value Proposition": _S.DEMO,
        "Id. Decision Makers": _S.DEMO,
        "Perception Analysis": _S.PROPOSAL,
        "Proposal/Price Quote": _S.PROPOSAL,
        "Negotiation/Review": _S.NEGOTIATION,
        "Closed Won": _S.CLOSED_WON,
        "Closed Lost": _S.CLOSED_LOST,
    },
    "hubspot": {
        "appointmentscheduled": _S.LEAD,
        "Appointment Scheduled": _S.LEAD,
        "qualifiedtobuy": _S.QUALIFICATION,
        "Qualified To Buy": _S.QUALIFICATION,
        "presentationscheduled": _S.DEMO,
        "Presentation Scheduled": _S.DEMO,
        "decisionmakerboughtin": _S.PROPOSAL,
        "Decision Maker Bought-In": _S.PROPOSAL,
        "contractsent": _S.NEGOTIATION,
        "Contract Sent": _S.NEGOTIATION,
        "closedwon": _S.CLOSED_WON,
        "Closed Won": _S.CLOSED_WON,
        "closedlost": _S.CLOSED_LOST,
        "Closed Lost": _S.CLOSED_LOST,
    },
    "pipedrive": {
        "Lead In": _S.LEAD,
        "Qualified": _S.QUALIFICATION,
        "Contact Made": _S.DISCOVERY,
        "Demo Scheduled": _S.DEMO,
        "Proposal Made": _S.PROPOSAL,
        "Negotiations Started": _S.NEGOTIATION,
        # won and lost are deal status values in Pipedrive, not stages
        "won": _S.CLOSED_WON,
        "lost": _S.CLOSED_LOST,
    },
}


def normalize_name(name: str) -> str:
    """The key a stage name is matched by: case-folded, whitespace collapsed."""
    return " ".join(name.split()).casefold()


@dataclass(frozen=True, slots=True, kw_only=True)
class StageMeta:
    """What a source says about one of its stages. ``probability`` is in [0, 1]; ``order`` is
    the stage's 0-based place among the source's ``of`` open stages."""

    order: int | None = None
    of: int | None = None
    probability: float | None = None
    is_closed: bool | None = None
    is_won: bool | None = None


def infer_stage(meta: StageMeta) -> Stage | None:
    """The canonical stage metadata implies, or None when it does not say enough."""
    if meta.is_closed:
        if meta.is_won is not None:
            return Stage.CLOSED_WON if meta.is_won else Stage.CLOSED_LOST
        if meta.probability is not None and meta.probability >= 1.0:
            return Stage.CLOSED_WON
        if meta.probability is not None and meta.probability <= 0.0:
            return Stage.CLOSED_LOST
        return None
    if meta.is_won:
        return Stage.CLOSED_WON
    if meta.probability is not None:
        return nearest_open_stage(meta.probability)
    if meta.order is not None and meta.of is not None and meta.of > 0:
        last = len(OPEN_PIPELINE) - 1
        place = min(max(meta.order, 0), meta.of - 1) / max(meta.of - 1, 1)
        return OPEN_PIPELINE[int(place * last + 0.5)]  # half up
    return None


def nearest_open_stage(probability: float) -> Stage:
    """The open stage whose default win probability is closest (ties go to the earlier one)."""
    return min(OPEN_PIPELINE, key=lambda s: (abs(DEFAULT_PROBABILITY[s] - probability), s.rank))


def parse_mapping_toml(text: str, *, origin: str = "stage map") -> dict[str, dict[str, Stage]]:
    """Parse a mapping file: ``[stages]`` ("Source name" = "canonical stage") and optional
    ``[sources.<name>]`` tables of the same shape. Returns {"": general, source: specific}
    with normalized names. Raises InvalidInput naming the file and the entry."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(f"is not valid TOML: {exc}", source=origin) from None
    unknown = set(doc) - {"stages", "sources"}
    if unknown:
        raise InvalidInput(
            f"unknown table(s) {', '.join(sorted(unknown))}; "
            "expected [stages] and [sources.<name>]",
            source=origin,
        )
    tables: dict[str, dict[str, Stage]] = {"": _parse_table(doc.get("stages", {}), origin, "")}
    sources = doc.get("sources", {})
    if not isinstance(sources, dict):
        raise InvalidInput("[sources] must hold tables [sources.<name>]", source=origin)
    for source, table in sources.items():
        tables[normalize_name(source)] = _parse_table(table, origin, f"sources.{source}.")
    return tables


def _parse_table(table: object, origin: str, prefix: str) -> dict[str, Stage]:
    if not isinstance(table, dict):
        raise InvalidInput("must be a table of names to stages", source=origin, field=prefix)
    parsed: dict[str, Stage] = {}
    for name, value in table.items():
        stage = parse_stage(value) if isinstance(value, str) and value.strip() else None
        if stage is None:
            canonical = ", ".join(s.value for s in ALL_STAGES)
            raise InvalidInput(
                f"{value!r} is not a canonical stage (one of {canonical})",
                source=origin,
                field=f"{prefix}{name}",
            )
        parsed[normalize_name(name)] = stage
    return parsed


@dataclass(slots=True)
class StageMapper:
    """Maps one source's stage names; remembers the names it could not map."""

    source: str
    overrides: Mapping[str, Mapping[str, Stage]] = field(default_factory=dict)
    #: whose stock stages are the defaults (``DEFAULTS`` key); the source itself when None
    vendor: str | None = None
    #: normalized name -> (name as first seen, best guess or None)
    unmapped: dict[str, tuple[str, Stage | None]] = field(default_factory=dict)
    _table: dict[str, Stage] = field(default_factory=dict, init=False, repr=False)
    _inferred: dict[str, Stage] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        source = normalize_name(self.source)
        vendor = normalize_name(self.vendor or self.source)
        table = {normalize_name(k): v for k, v in DEFAULTS.get(vendor, {}).items()}
        table.update(self.overrides.get("", {}))
        if vendor != source:
            table.update(self.overrides.get(vendor, {}))
        table.update(self.overrides.get(source, {}))
        self._table = table

    def fingerprint(self) -> str:
        """The name -> stage table it maps by, as text: two mappers with the same fingerprint
        map every known name alike."""
        return ";".join(f"{k}={v.value}" for k, v in sorted(self._table.items()))

    def map(
        self, name: str, metadata: StageMeta | None = None, *, hint: StageMeta | None = None
    ) -> Stage | None:
        """The canonical stage for ``name``, or None (then ``name`` is in ``unmapped``).

        ``metadata`` is what the source says about the stage and may decide it; ``hint`` is
        weaker evidence (a deal's own probability, say), used only for the suggested guess.
        The first inference for a name sticks, so one name always maps to one stage."""
        key = normalize_name(name)
        stage = self._table.get(key) or self._inferred.get(key) or parse_stage(key)
        if stage is not None:
            return stage
        if metadata is not None and (stage := infer_stage(metadata)) is not None:
            self._inferred[key] = stage
            return stage
        if key not in self.unmapped or self.unmapped[key][1] is None:
            guess = infer_stage(hint) if hint is not None else None
            self.unmapped[key] = (" ".join(name.split()), guess)
        return None

    def unmapped_names(self) -> list[str]:
        return [shown for shown, _ in self.unmapped.values()]

    def suggestion_toml(self, *, origin: str = "") -> str:
        """A mapping file listing every unmapped name with a best guess or an empty value."""
        canonical = ", ".join(s.value for s in ALL_STAGES)
        lines = [
            f"# Suggested stage mapping{f' for {origin}' if origin else ''} "
            f"(source {self.source!r}).",
            "# Set every value to one of PIE's stages and pass this file with --stage-map:",
            f"#   {canonical}",
            "# Names are matched ignoring case and extra spaces. Guesses are only guesses: check",
            "# them. An empty value is an error when the file is loaded.",
            "",
            f"[sources.{_toml_key(self.source)}]",
        ]
        for shown, guess in self.unmapped.values():
            lines.append(
                f"# {shown!r}: best guess {guess.value}" if guess else f"# {shown!r}: no guess"
            )
            lines.append(f'{_toml_key(shown)} = "{guess.value if guess else ""}"')
        return "\n".join(lines) + "\n"


def _toml_key(text: str) -> str:
    if text and all(c.isascii() and (c.isalnum() or c in "-_") for c in text):
        return text
    escaped = "".join(f"\\u{ord(c):04x}" if ord(c) < 0x20 or c in '"\\' else c for c in text)
    return f'"{escaped}"'
