"""Deal histories as columns: numbers and codes in numpy arrays, no object per deal or event.

``DealColumns`` holds what mining, forecasting and back-testing read from a store: one row per
deal, per stage transition, per deal stakeholder and per activity, plus (only for deals that
have objections) each activity's participants and each objection. The store reads it in one
streamed query per table (``pie.ports.columns``); ``from_histories`` builds the same arrays
from domain objects (the in-memory fake, event logs, tests).

Every function here is the vectorised twin of the object path and gives exactly the same
numbers: ``snapshot`` is ``pie.mining.snapshot.as_of``, ``visit_table`` is
``pie.mining.events.visit_table`` (with ``contexts_at``, ``arrival_times`` and the values),
``outcomes_after`` and ``data_end`` are their namesakes in ``snapshot``. Rows keep the order
the object path sees: deals in store order, transitions and activities by (deal, time, store
order), so even floating-point sums add up in the same order.

Times are integer microseconds since the epoch (``NO_TIME`` for none); days are
``micros / 1e6 / 86400``, which equals ``to_days`` of the datetime bit for bit.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import numpy as np
from numpy.typing import NDArray

from pie.domain.errors import InvalidInput
from pie.domain.history import DealHistory
from pie.domain.model import Deal, DealOutcome, StakeholderRole
from pie.domain.stages import ALL_STAGES, Stage

from .context import DAY
from .eventlog_arrays import EPOCH, to_micros
from .events import LOST, N_STAGES, STAGE_INDEX, WON, VisitTable
from .snapshot import _DAY_SECONDS, OutcomeAfter, days_between, require_aware

Int = NDArray[np.integer[Any]]  # int8 codes, int32 rows (CODE, ROW), or int64
Us = NDArray[np.int64]  # times: microseconds since the epoch
Float = NDArray[np.float64]
Bool = NDArray[np.bool_]
NO_TIME = np.iinfo(np.int64).min
#: storage types: stage codes and role bits fit a byte, rows and codes 32 bits (2**31 rows a
#: table); times stay 64-bit microseconds, money and probabilities float64
CODE, ROW = np.int8, np.int32
#: an id (a deal's, a contact's) as its 16 bytes (``UUID.bytes``): a quarter of a UUID object,
#: and sorted as the ids' hex digits (the store's order)
KEY = np.dtype("S16")
_RAW = np.dtype((np.void, 16))  # the same bytes, read back whole (S16 drops trailing zeros)
_DASH = [8, 13, 18, 23]  # where the dashes of an id's text are
_HEX = np.array([i for i in range(36) if i not in _DASH])  # and its 32 hex digits
_DIGITS = np.frombuffer(b"0123456789abcdef", np.uint8)
CHAMPION, BLOCKER = 1, 2  # role bits of a stakeholder row
IS_OPEN: Bool = np.array([s.is_open for s in ALL_STAGES] + [False], dtype=np.bool_)
IS_CLOSED: Bool = np.array([s.is_closed for s in ALL_STAGES] + [False], dtype=np.bool_)


def days(us: Int) -> Float:
    """Days since the epoch, as ``to_days`` gives them for the same moments."""
    out: Float = us / 1e6
    out /= DAY  # in place: the same division, one array
    return out


def moment(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=int(us))


@dataclass(frozen=True, slots=True, eq=False)
class DealColumns:
    """Per deal (``n``): ids (``KEY``: 16 bytes each, ``deal_id`` gives the UUID), stream
    identities, stage codes (``ALL_STAGES`` order), times,
    value (NaN: unknown) and industry code (-1: none). Transitions (``t_*``) and activities
    (``a_*``) are sorted by (deal, time, store order); stakeholders (``s_*``) are the deal's.
    Participants (``p_*``, contact codes per activity row) and objections (``o_*``, per
    activity row) are kept only for deals with objections: nothing else reads them."""

    ids: NDArray[np.bytes_]
    stream: NDArray[np.object_]
    stage: Int
    created_us: Us
    closed_us: Us
    value: Float
    probability: Float  # NaN: none
    industry: Int
    industries: tuple[str, ...]
    t_deal: Int
    t_from: Int  # -1: none
    t_to: Int
    t_us: Us
    t_days_in: Float  # NaN: not given
    t_value: Float
    t_prob: Float
    s_deal: Int
    s_contact: Int
    s_created_us: Us
    s_roles: Int  # CHAMPION | BLOCKER bits
    a_deal: Int
    a_us: Us
    a_objections: Bool
    p_act: Int  # sorted
    p_contact: Int
    o_act: Int  # sorted
    o_resolved: Bool
    o_resolved_us: Us  # when a resolved objection was resolved (NO_TIME: undated or open)

    def __len__(self) -> int:
        return int(self.stage.size)

    @property
    def nbytes(self) -> int:
        return sum(
            getattr(self, f.name).nbytes
            for f in dataclasses.fields(self)
            if isinstance(getattr(self, f.name), np.ndarray)
        )

    def industry_names(self) -> list[str | None]:
        return [self.industries[i] if i >= 0 else None for i in self.industry.tolist()]

    def deal_id(self, i: int) -> UUID:
        return UUID(bytes=self.ids[i : i + 1].view(_RAW)[0].tobytes())

    def deal_ids(self, rows: Int | None = None) -> list[UUID]:
        """The ids of the deals at ``rows`` (default: every deal), in order."""
        keys = self.ids if rows is None else self.ids[rows]
        return [UUID(bytes=b) for b in keys.view(_RAW).tolist()]

    def id_keys(self, rows: Int | None = None) -> list[bytes]:
        """The 16 bytes of the ids of the deals at ``rows`` (default: every deal), in order:
        keys to match deals by, without a UUID object each."""
        keys = self.ids if rows is None else self.ids[rows]
        out: list[bytes] = keys.view(_RAW).tolist()
        return out

    def id_texts(self) -> list[str]:
        """Every deal's id as ``str(UUID)`` gives it, in bulk (no UUID object each)."""
        raw = np.frombuffer(self.ids.tobytes(), np.uint8).reshape(-1, 16)
        text = np.full((raw.shape[0], 36), ord("-"), dtype=np.uint8)
        text[:, _HEX[0::2]] = _DIGITS[raw >> 4]
        text[:, _HEX[1::2]] = _DIGITS[raw & 15]
        return np.ascontiguousarray(text).view("S36").reshape(-1).astype(str).tolist()

    def stage_of(self, i: int) -> Stage:
        return ALL_STAGES[int(self.stage[i])]

    def is_open(self) -> Bool:
        """Whether each deal is open (its current stage)."""
        out: Bool = IS_OPEN[self.stage]
        return out

    def take(
        self, keep: Bool, *, t: Bool | None = None, s: Bool | None = None, a: Bool | None = None
    ) -> DealColumns:
        """Only the deals where ``keep`` is set (rows of other tables follow), renumbered;
        ``t``, ``s`` and ``a``, where given, drop more transitions, stakeholders and
        activities (with their participants and objections). One copy of what is kept."""
        new = renumber(keep)
        t = keep[self.t_deal] if t is None else t & keep[self.t_deal]
        s = keep[self.s_deal] if s is None else s & keep[self.s_deal]
        a = keep[self.a_deal] if a is None else a & keep[self.a_deal]
        a_new = renumber(a)
        p, o = a[self.p_act], a[self.o_act]
        return DealColumns(
            ids=self.ids[keep],
            stream=self.stream[keep],
            stage=self.stage[keep],
            created_us=self.created_us[keep],
            closed_us=self.closed_us[keep],
            value=self.value[keep],
            probability=self.probability[keep],
            industry=self.industry[keep],
            industries=self.industries,
            t_deal=new[self.t_deal[t]],
            t_from=self.t_from[t],
            t_to=self.t_to[t],
            t_us=self.t_us[t],
            t_days_in=self.t_days_in[t],
            t_value=self.t_value[t],
            t_prob=self.t_prob[t],
            s_deal=new[self.s_deal[s]],
            s_contact=self.s_contact[s],
            s_created_us=self.s_created_us[s],
            s_roles=self.s_roles[s],
            a_deal=new[self.a_deal[a]],
            a_us=self.a_us[a],
            a_objections=self.a_objections[a],
            p_act=a_new[self.p_act[p]],
            p_contact=self.p_contact[p],
            o_act=a_new[self.o_act[o]],
            o_resolved=self.o_resolved[o],
            o_resolved_us=self.o_resolved_us[o],
        )


def renumber(keep: Bool) -> Int:
    """The new row of each kept row (rows of the others are meaningless)."""
    out: Int = np.cumsum(keep, dtype=np.int64).astype(ROW) - ROW(1)
    return out


def high_bits(keys: NDArray[np.bytes_]) -> NDArray[np.uint64]:
    """The first 8 bytes of each key as an integer (big-endian: they sort as the keys do)."""
    out: NDArray[np.uint64] = (
        np.ascontiguousarray(keys).view(">u8").reshape(-1, 2)[:, 0].astype(np.uint64)
    )
    return out


class KeyIndex:
    """Where keys are in sorted keys (``KEY``): a binary search in their first 8 bytes as
    integers when those are distinct (as for random ids: a native compare over half the
    memory, about 3 times faster than comparing 16-byte strings once the keys outgrow the
    processor's caches), else in the keys themselves."""

    def __init__(self, ordered: NDArray[np.bytes_]) -> None:
        self.ordered = ordered
        high = high_bits(ordered)
        self._high = high if bool(np.all(high[1:] > high[:-1])) else None

    def find(self, keys: NDArray[np.bytes_]) -> NDArray[np.int64]:
        """The position of each key, -1 where it is not there."""
        n = self.ordered.size
        if not n:
            return np.full(keys.size, -1, dtype=np.int64)
        if self._high is not None:
            pos = np.searchsorted(self._high, high_bits(keys))
        else:
            pos = np.searchsorted(self.ordered, keys)
        pos = np.minimum(pos, n - 1)
        out: NDArray[np.int64] = np.where(self.ordered[pos] == keys, pos, -1)
        return out


def by_deal(deal: Int, us: Any = None) -> Int | slice:
    """The rows of known deals (``deal`` >= 0) in (deal, ``us``) order, ties in store order:
    ``slice(None)`` (a view, no copy) when every row is known and already in that order, as
    the store reads them; else the row numbers, sorted stably. ``us`` is any sortable key
    (times, or ids as ``KEY``). A deal's rows being few and usually read one after another
    in their own order, the rows are sorted by deal first and by ``us`` only if some deal's
    rows are then out of order (the same order as ``lexsort((us, deal))``, in a third of
    its time)."""
    if not deal.size:
        return slice(None)
    step = deal[1:] > deal[:-1]
    if us is not None:
        step |= (deal[1:] == deal[:-1]) & (us[1:] >= us[:-1])
    else:
        step |= deal[1:] == deal[:-1]
    if deal[0] >= 0 and bool(step.all()):
        return slice(None)
    del step
    keep = np.flatnonzero(deal >= 0)
    out: Int = keep[np.argsort(deal[keep], kind="stable")]
    if us is not None:
        d, u = deal[out], us[out]
        if bool(((d[1:] == d[:-1]) & (u[1:] < u[:-1])).any()):  # a deal's rows out of order
            out = out[np.lexsort((u, d))]  # stable: store order
    return out


def _cat(parts: list[Any], dtype: Any) -> Any:
    return np.concatenate(parts).astype(dtype, copy=False) if parts else np.zeros(0, dtype)


class ColumnsBuilder:
    """Collects rows in batches of arrays, table by table (deals first; rows of a table in
    store order), and sorts them into ``DealColumns``; used by the store adapters and by
    ``from_histories``. Rows naming an unknown deal are dropped (as ``load_histories``).
    Ids are given as ``KEY`` (``hex_keys``); contacts are numbered once, at ``build``."""

    def __init__(self) -> None:
        self.keys: list[NDArray[np.bytes_]] = []  # deal ids, per batch
        self._index: tuple[KeyIndex, Int | None] | None = None
        self.stream: list[str] = []
        self.industries: dict[str, int] = {}
        self.cols: dict[str, list[Any]] = {}

    def _add(self, **arrays: Any) -> None:
        for name, values in arrays.items():
            self.cols.setdefault(name, []).append(np.asarray(values))

    def industry_code(self, name: str | None) -> int:
        if name is None:
            return -1
        return self.industries.setdefault(name, len(self.industries))

    def deal_rows(self, keys: NDArray[np.bytes_]) -> Int:
        """The row of each deal (its ``KEY``, as given to ``add_deals``), -1 for an unknown
        one: a binary search in the sorted ids (``KeyIndex``; as the store reads them: else
        sorted once), no dict of every deal."""
        if self._index is None:
            every = self._every()
            if bool(np.all(every[1:] > every[:-1])):
                self._index = KeyIndex(every), None
            else:
                by_key: Int = np.argsort(every, kind="stable").astype(ROW)
                self._index = KeyIndex(every[by_key]), by_key
        index, order = self._index
        pos = index.find(keys)
        found: Int = (pos if order is None else np.where(pos >= 0, order[pos], -1)).astype(ROW)
        return found

    @property
    def count(self) -> int:
        """How many deals were added."""
        return len(self.stream)

    def grouped_deal_rows(self, ids: Sequence[str] | NDArray[np.bytes_]) -> Int:
        """``deal_rows`` of deal ids given as 32 hex digits (text, or ASCII as ``S32``), rows
        grouped by deal (as read in (deal, time) order): each run of one id is converted and
        searched once."""
        if not len(ids):
            return np.zeros(0, ROW)
        digits = np.asarray(ids, dtype="S32")
        starts = np.flatnonzero(np.append(True, digits[1:] != digits[:-1]))
        runs = np.diff(np.append(starts, digits.size))
        out: Int = np.repeat(self.deal_rows(hex_keys(digits[starts])), runs)
        return out

    def _every(self) -> NDArray[np.bytes_]:
        """Every deal's key, in row order."""
        if len(self.keys) != 1:
            self.keys = [np.concatenate(self.keys) if self.keys else np.zeros(0, KEY)]
        return self.keys[0]

    def ids_of(self, rows: Int) -> list[UUID]:
        """The ids of the deals at ``rows``."""
        return [UUID(bytes=k) for k in self._every()[rows].view(_RAW).tolist()]

    def add_deals(
        self,
        keys: NDArray[np.bytes_],
        streams: Sequence[str],
        stage: Int,
        created_us: Int,
        closed_us: Int,
        value: Float,
        industry: Sequence[str | None],
        probability: Float,
    ) -> None:
        self.keys.append(keys)
        self._index = None
        self.stream.extend(streams)
        code = self.industry_code
        self._add(
            stage=np.asarray(stage, dtype=CODE),
            created=created_us,
            closed=closed_us,
            value=value,
            prob=probability,
            industry=np.fromiter(map(code, industry), dtype=ROW, count=len(industry)),
        )

    def add_transitions(
        self, deal: Int, frm: Int, to: Int, at_us: Int, days_in: Float, value: Float, prob: Float
    ) -> None:
        self._add(t_deal=deal, t_from=np.asarray(frm, CODE), t_to=np.asarray(to, CODE))
        self._add(t_us=at_us, t_din=days_in, t_value=value, t_prob=prob)

    def add_stakeholders(
        self, deal: Int, contact: NDArray[np.bytes_], created_us: Int, roles: Int
    ) -> None:
        """``contact``: the contacts' ``KEY``."""
        self._add(s_deal=deal, s_key=contact, s_us=created_us, s_roles=np.asarray(roles, CODE))

    def add_activities(self, deal: Int, at_us: Int) -> None:
        """Every activity's deal and time; which have objections is known from the details
        (``add_details``: every activity of the deals with objections)."""
        self._add(a_deal=deal, a_us=at_us)

    def add_details(
        self,
        deal: Int,
        at_us: Int,
        participants: tuple[Int, NDArray[np.bytes_]],
        objections: Sequence[tuple[Sequence[bool], Sequence[int]]],
    ) -> None:
        """Every activity of the deals that have objections (in store order): its
        participants (``participant_keys``: how many each has, and their ids as ``KEY``, all
        activities' one after another), and its objections (``objection_values``)."""
        counts, keys = participants
        self._add(d_deal=deal, d_us=at_us)
        self._add(d_np=np.asarray(counts, dtype=np.int64), d_key=keys)
        self._add(d_no=np.array([len(o[0]) for o in objections], dtype=np.int64))
        self._add(d_ores=np.array([r for o in objections for r in o[0]], dtype=np.bool_))
        self._add(d_oat=np.array([t for o in objections for t in o[1]], dtype=np.int64))

    def build(self) -> DealColumns:
        c: dict[str, Any] = {}
        for name in list(self.cols):  # each batch list is dropped once joined: one copy at a time
            parts = self.cols.pop(name)
            c[name] = _cat(parts, parts[0].dtype)
            del parts

        def col(name: str, dtype: Any) -> Any:
            return c.pop(name).astype(dtype, copy=False) if name in c else np.zeros(0, dtype)

        n = len(self.stream)
        # contacts: numbered in the order of their ids, stakeholders' and participants' alike
        s_size = c["s_key"].size if "s_key" in c else 0
        contact = numbered(np.concatenate([col("s_key", KEY), col("d_key", KEY)]))
        s_contact, d_p = contact[:s_size], contact[s_size:]
        del contact
        t_deal = col("t_deal", ROW)
        t_us = col("t_us", np.int64)
        t_sel = by_deal(t_deal, t_us)
        s_deal = col("s_deal", ROW)
        s_sel = by_deal(s_deal)
        a_deal = col("a_deal", ROW)
        a_us = col("a_us", np.int64)
        a_sel = by_deal(a_deal, a_us)
        a_deal, a_us = a_deal[a_sel], a_us[a_sel]
        # details: sorted the same way, each is the activity row at the same place in its deal
        d_deal, d_us = col("d_deal", ROW), col("d_us", np.int64)
        d_sel = np.arange(d_deal.size)[by_deal(d_deal, d_us)]  # few: deals with objections
        a_start = np.searchsorted(a_deal, np.arange(n + 1))
        d_start = np.searchsorted(d_deal[d_sel], np.arange(n + 1))
        d_rank = np.arange(d_sel.size) - d_start[d_deal[d_sel]]
        d_row = a_start[d_deal[d_sel]] + d_rank
        del a_start, d_start, d_rank
        if d_sel.size and not np.array_equal(a_us[d_row], d_us[d_sel]):
            raise ValueError("activity details do not match the activities (read apart?)")
        p_act, p_contact = self._ragged(col("d_np", np.int64), d_p, d_sel, d_row)
        o_count = col("d_no", np.int64)
        a_objections = np.zeros(a_us.size, dtype=np.bool_)
        a_objections[d_row] = o_count[d_sel] > 0
        o_act, o_res = self._ragged(o_count, col("d_ores", np.bool_), d_sel, d_row)
        _, o_at = self._ragged(o_count, col("d_oat", np.int64), d_sel, d_row)
        ids = self._every()
        self.keys, self._index = [], None
        stream = np.empty(n, dtype=object)
        stream[:] = self.stream
        self.stream = []
        return DealColumns(
            ids=ids,
            stream=stream,
            stage=col("stage", CODE),
            created_us=col("created", np.int64),
            closed_us=col("closed", np.int64),
            value=col("value", np.float64),
            probability=col("prob", np.float64),
            industry=col("industry", ROW),
            industries=tuple(self.industries),
            t_deal=t_deal[t_sel],
            t_from=col("t_from", CODE)[t_sel],
            t_to=col("t_to", CODE)[t_sel],
            t_us=t_us[t_sel],
            t_days_in=col("t_din", np.float64)[t_sel],
            t_value=col("t_value", np.float64)[t_sel],
            t_prob=col("t_prob", np.float64)[t_sel],
            s_deal=s_deal[s_sel],
            s_contact=s_contact[s_sel],
            s_created_us=col("s_us", np.int64)[s_sel],
            s_roles=col("s_roles", CODE)[s_sel],
            a_deal=a_deal,
            a_us=a_us,
            a_objections=a_objections,
            p_act=p_act,
            p_contact=p_contact,
            o_act=o_act,
            o_resolved=o_res,
            o_resolved_us=o_at,
        )

    @staticmethod
    def _ragged(counts: Int, values: Any, sel: Int, rows: Int) -> tuple[Int, Any]:
        """Values listed per detail row (``counts`` each, in store order) as (activity row,
        value) pairs for the detail rows ``sel`` placed at activity ``rows``, by row."""
        ends = np.cumsum(counts)
        starts = ends - counts
        take = counts[sel]
        if not take.sum():
            return np.zeros(0, ROW), values[:0]
        index = np.repeat(starts[sel], take) + (
            np.arange(int(take.sum())) - np.repeat(np.cumsum(take) - take, take)
        )
        act = np.repeat(rows, take).astype(ROW)
        order = np.argsort(act, kind="stable")
        return act[order], values[index][order]


def numbered(keys: NDArray[np.bytes_]) -> Int:
    """Each key's rank among the distinct keys (``np.unique``'s inverse, in ``ROW``, with a
    third of its transient memory: one sort order and the keys sorted once). Sorted by their
    first 8 bytes as integers (``high_bits``), which is the keys' order unless two different
    keys share them (then by the keys themselves)."""
    if not keys.size:
        return np.zeros(0, ROW)
    order = np.argsort(high_bits(keys))
    ordered = keys[order]
    new = np.empty(ordered.size, dtype=ROW)
    new[0] = 0
    np.not_equal(ordered[1:], ordered[:-1], out=new[1:])
    high = high_bits(ordered)
    if bool((new[1:].astype(np.bool_) & (high[1:] == high[:-1])).any()):  # keys apart, same high
        order = np.argsort(keys)
        ordered = keys[order]
        np.not_equal(ordered[1:], ordered[:-1], out=new[1:])
    del keys, ordered, high
    np.cumsum(new, out=new)
    out: Int = np.empty_like(new)
    out[order] = new
    return out


#: hex digit (ASCII) -> its value; 255: not a hex digit
_NIBBLE = np.full(256, 255, dtype=np.uint8)
_NIBBLE[np.frombuffer(b"0123456789", np.uint8)] = np.arange(10)
_NIBBLE[np.frombuffer(b"abcdef", np.uint8)] = np.arange(10, 16)
_NIBBLE[np.frombuffer(b"ABCDEF", np.uint8)] = np.arange(10, 16)


def hex_keys(ids: Sequence[str] | NDArray[np.bytes_]) -> NDArray[np.bytes_]:
    """Ids given as 32 hex digits as ``KEY`` (their 16 bytes), in bulk; ValueError for
    anything else."""
    if not len(ids):
        return np.zeros(0, KEY)
    digits = np.asarray(ids, dtype="S32")
    nibbles = _NIBBLE[digits.view(np.uint8).reshape(-1, 32)]
    if (nibbles == 255).any():
        bad = digits[(nibbles == 255).any(axis=1)][0]
        raise ValueError(f"not an id in 32 hex digits: {bad!r}")
    packed = (nibbles[:, 0::2] << 4) | nibbles[:, 1::2]
    out: NDArray[np.bytes_] = packed.view(KEY).reshape(-1)
    return out


def contact_key(contact: UUID | str) -> str:
    """A contact's id as 32 hex digits, from a UUID or its text (any form ``UUID`` reads)."""
    return contact.hex if isinstance(contact, UUID) else UUID(contact).hex


def contact_keys(texts: Sequence[str]) -> NDArray[np.bytes_]:
    """Contact ids given as text (``str(UUID)``: 36 characters, lower case) as ``KEY``, in
    bulk; any other spelling is read by ``UUID`` one by one."""
    if not texts:
        return np.zeros(0, KEY)
    try:
        raw = np.array(texts, dtype="S36") if max(map(len, texts)) <= 36 else None
    except UnicodeEncodeError:
        raw = None
    if raw is not None:
        keys = text_keys(raw.view(np.uint8).reshape(-1, 36))
        if keys is not None:
            return keys
    return hex_keys([contact_key(t) for t in texts])


def text_keys(chars: NDArray[np.uint8]) -> NDArray[np.bytes_] | None:
    """Ids given as the ASCII codes of their text, one id a row of 36 (``str(UUID)``: lower
    case, dashes), as ``KEY``; None if any row is not in that form."""
    digits = chars[:, _HEX]
    hexes = ((digits >= ord("0")) & (digits <= ord("9"))) | (
        (digits >= ord("a")) & (digits <= ord("f"))
    )
    if not (np.all(chars[:, _DASH] == ord("-")) and np.all(hexes)):
        return None
    return hex_keys(np.ascontiguousarray(digits).view("S32").reshape(-1))


def participant_keys(participants: Sequence[Sequence[str]]) -> tuple[Int, NDArray[np.bytes_]]:
    """Activities' participants (contact ids as text, ``contact_keys``) as ``add_details``
    takes them: how many each activity has, and every id as ``KEY``, one after another."""
    counts = np.fromiter(map(len, participants), np.int64, len(participants))
    return counts, contact_keys(list(itertools.chain.from_iterable(participants)))


def role_bits(roles: Iterable[StakeholderRole | str]) -> int:
    names = {str(r) for r in roles}
    return (CHAMPION if str(StakeholderRole.CHAMPION) in names else 0) | (
        BLOCKER if str(StakeholderRole.BLOCKER) in names else 0
    )


def us_or_none(at: datetime | None) -> int:
    return NO_TIME if at is None else to_micros(at)


STAGE_CODES: dict[str | None, int] = {None: -1} | {str(s): i for s, i in STAGE_INDEX.items()}


def stage_code(stage: Stage | str | None) -> int:
    """The stage's code (``ALL_STAGES`` order), -1 for none; KeyError for an unknown one."""
    return STAGE_CODES[stage]


def from_histories(
    histories: Iterable[DealHistory], *, identity: Callable[[Deal], str]
) -> DealColumns:
    """The columns of ``histories`` (in their order), for stores of objects and for tests;
    ``identity`` gives each deal's stream identity (``pie.simulation.streams``)."""
    b = ColumnsBuilder()
    hs = list(histories)
    deals = [h.deal for h in hs]
    b.add_deals(
        hex_keys([d.id.hex for d in deals]),
        [identity(d) for d in deals],
        np.array([STAGE_INDEX[d.stage] for d in deals], dtype=np.int64),
        np.array([to_micros(d.created_at) for d in deals], dtype=np.int64),
        np.array([us_or_none(d.closed_at) for d in deals], dtype=np.int64),
        np.array([np.nan if d.value is None else float(d.value) for d in deals]),
        [h.account.industry if h.account is not None else None for h in hs],
        np.array([np.nan if d.probability is None else d.probability for d in deals]),
    )
    ts = [(i, t) for i, h in enumerate(hs) for t in h.transitions]
    b.add_transitions(
        np.array([i for i, _ in ts], dtype=np.int64),
        np.array([stage_code(t.from_stage) for _, t in ts], dtype=np.int64),
        np.array([stage_code(t.to_stage) for _, t in ts], dtype=np.int64),
        np.array([to_micros(t.at) for _, t in ts], dtype=np.int64),
        np.array([np.nan if t.days_in_from_stage is None else t.days_in_from_stage for _, t in ts]),
        np.array([np.nan if t.value is None else float(t.value) for _, t in ts]),
        np.array([np.nan if t.probability is None else t.probability for _, t in ts]),
    )
    ss = [(i, s) for i, h in enumerate(hs) for s in h.stakeholders]
    b.add_stakeholders(
        np.array([i for i, _ in ss], dtype=np.int64),
        hex_keys([s.contact_id.hex for _, s in ss]),
        np.array([to_micros(s.created_at) for _, s in ss], dtype=np.int64),
        np.array([role_bits(s.roles) for _, s in ss], dtype=np.int64),
    )
    acts = [(i, a) for i, h in enumerate(hs) for a in h.activities]
    b.add_activities(
        np.array([i for i, _ in acts], dtype=np.int64),
        np.array([to_micros(a.occurred_at) for _, a in acts], dtype=np.int64),
    )
    noted = {i for i, a in acts if a.objections}
    details = [(i, a) for i, a in acts if i in noted]
    b.add_details(
        np.array([i for i, _ in details], dtype=np.int64),
        np.array([to_micros(a.occurred_at) for _, a in details], dtype=np.int64),
        participant_keys([[str(p) for p in a.participants] for _, a in details]),
        [objection_values(a.objections) for _, a in details],
    )
    return b.build()


def objection_values(objections: Iterable[Any]) -> tuple[list[bool], list[int]]:
    """(resolved, resolved at or NO_TIME) of objections given as objects or stored dicts;
    the time only for a resolved one."""
    resolved: list[bool] = []
    at: list[int] = []
    for o in objections:
        if isinstance(o, dict):
            done, when = bool(o["resolved"]), o.get("resolved_at")
            stamp = to_micros(datetime.fromisoformat(when)) if done and when else NO_TIME
        else:
            done = o.resolved
            stamp = us_or_none(o.resolved_at) if done else NO_TIME
        resolved.append(done)
        at.append(stamp)
    return resolved, at


# --- grouped helpers ---------------------------------------------------------------------


def _starts(group: Int, n: int) -> Int:
    """Index of each group's first row in rows sorted by group (``n`` groups)."""
    out: Int = np.searchsorted(group, np.arange(n + 1), side="left")
    return out


def _group_min(n: int, group: Int, values: Float) -> Float:
    out = np.full(n, np.inf)
    np.minimum.at(out, group, values)
    return out


def last_known(
    k_group: Int,
    k_time: Float | Int,
    q_group: Int,
    q_time: Float | Int,
    *,
    inclusive: bool,
    tie: Float | None = None,
) -> Int:
    """For each query, the index of the last known row of its group at (``inclusive``) or
    before its time, ordering ties in time by ``tie`` (ascending; then by index); -1 if
    none. Known rows sorted by (group, time), as every table of ``DealColumns`` is, take
    two binary searches; others one sort of everything (``_last_known_sorted``)."""
    kind = np.result_type(k_time, q_time)
    k_time, q_time = np.asarray(k_time, kind), np.asarray(q_time, kind)
    nk = k_group.size
    if not nk or not q_group.size:
        return np.full(q_group.size, -1, dtype=np.int64)
    same = k_group[1:] == k_group[:-1]
    ordered = bool(np.all((k_group[1:] > k_group[:-1]) | (same & (k_time[1:] >= k_time[:-1]))))
    if not ordered or np.isnan(k_time).any() or np.isnan(q_time).any() or q_group.min() < 0:
        return _last_known_sorted(k_group, k_time, q_group, q_time, inclusive=inclusive, tie=tie)
    # a binary search inside each query's group (its rows are contiguous, sorted by time),
    # all queries a step at a time: no sort, and the work grows with the queries alone
    n_groups = int(max(k_group[-1], q_group.max())) + 1
    starts = np.searchsorted(k_group, np.arange(n_groups + 1, dtype=k_group.dtype))
    first = starts[q_group]
    lo, hi = first.copy(), starts[q_group + 1]
    widest = int((starts[1:] - starts[:-1]).max())
    for _ in range(widest.bit_length()):
        mid = (lo + hi) >> 1
        at = k_time[np.minimum(mid, nk - 1)]
        go = (at <= q_time) if inclusive else (at < q_time)  # the row counts: look after it
        go &= lo < hi
        lo = np.where(go, mid + 1, lo)
        hi = np.where(go, hi, mid)
    found = np.where(lo > first, lo - 1, -1)  # the last row at (or before) the query's time
    if tie is not None:  # among rows of one (group, time): the largest tie, then the last
        run_end = np.append(~same | (k_time[1:] != k_time[:-1]), True)
        runs = np.cumsum(np.concatenate([[0], run_end[:-1]]))
        if runs[-1] + 1 < nk:  # some rows share their group and time
            order = np.lexsort((tie, runs))
            best = order[np.flatnonzero(np.append(runs[order][1:] != runs[order][:-1], True))]
            found = np.where(found >= 0, best[runs[np.maximum(found, 0)]], -1)
    out: Int = found.astype(np.int64)
    return out


def _last_known_sorted(
    k_group: Int,
    k_time: Float | Int,
    q_group: Int,
    q_time: Float | Int,
    *,
    inclusive: bool,
    tie: Float | None = None,
) -> Int:
    nk = k_group.size
    group = np.concatenate([k_group, q_group])
    time = np.concatenate([np.asarray(k_time), np.asarray(q_time)])
    known_first = 0 if inclusive else 1
    kind = np.concatenate(
        [np.full(nk, known_first, np.int8), np.full(q_group.size, 1 - known_first, np.int8)]
    )
    tie_all = np.concatenate([tie if tie is not None else np.zeros(nk), np.zeros(q_group.size)])
    order = np.lexsort((tie_all, kind, time, group))
    pos = np.where(order < nk, np.arange(order.size), -1)
    last = np.maximum.accumulate(pos) if pos.size else pos
    found = np.where(last >= 0, order[np.maximum(last, 0)], -1)
    found = np.where((found >= 0) & (group[np.maximum(found, 0)] == group[order]), found, -1)
    out = np.empty(q_group.size, dtype=np.int64)
    is_query = order >= nk
    out[order[is_query] - nk] = found[is_query]
    return out


def pick(values: Float, index: Int, fallback: Float | float) -> Float:
    """``values[index]`` where ``index`` >= 0, else ``fallback`` (``values`` may be empty)."""
    if not values.size:
        return np.broadcast_to(np.asarray(fallback, dtype=np.float64), index.shape).copy()
    out: Float = np.where(index >= 0, values[np.maximum(index, 0)], fallback)
    return out


# --- contexts ----------------------------------------------------------------------------


def known_since(cols: DealColumns, role: int) -> Float:
    """Per deal: when a stakeholder with ``role`` was first known (days; inf if never)."""
    has = (cols.s_roles & role) > 0
    return _group_min(len(cols), cols.s_deal[has], days(cols.s_created_us[has]))


def blocker_interval(cols: DealColumns) -> tuple[Float, Float]:
    """Per deal (opened, closed) in days: a blocker or objection is unresolved at t when
    opened <= t < closed (``context._blocker_open_at``: the same rule, per deal once)."""
    n = len(cols)
    opened = known_since(cols, BLOCKER)
    closed = np.full(n, np.inf)
    obj = np.flatnonzero(cols.a_objections)
    if not obj.size:
        return opened, closed
    at = days(cols.a_us[obj])
    deal = cols.a_deal[obj]
    np.minimum.at(opened, deal, at)
    # per objection activity: all resolved, all dated, and the latest resolution date
    o_first = np.searchsorted(cols.o_act, obj, side="left")
    o_end = np.searchsorted(cols.o_act, obj, side="right")
    unresolved_rows = ~cols.o_resolved
    undated_rows = cols.o_resolved_us == NO_TIME
    cum_unres = np.concatenate([[0], np.cumsum(unresolved_rows)])
    cum_undated = np.concatenate([[0], np.cumsum(undated_rows)])
    all_resolved = (cum_unres[o_end] - cum_unres[o_first]) == 0
    all_dated = (cum_undated[o_end] - cum_undated[o_first]) == 0
    latest = np.full(obj.size, -np.inf)
    rows = np.flatnonzero(~undated_rows)
    if rows.size:
        owner = np.searchsorted(obj, cols.o_act[rows])
        np.maximum.at(latest, owner, days(cols.o_resolved_us[rows]))
    close = np.where(all_resolved & all_dated, latest, np.inf)
    for i in np.flatnonzero(all_resolved & ~all_dated).tolist():
        close[i] = _next_shared(cols, int(obj[i]))
    # closed = min(close) over resolved objection activities after the deal's last
    # unresolved one (an unresolved objection reopens it)
    keep = all_resolved & ~unresolved_after(deal, ~all_resolved)
    np.minimum.at(closed, deal[keep], close[keep])
    return opened, closed


def unresolved_after(deal: Int, unresolved: Bool) -> Bool:
    """Per row: whether a later row of the same deal is unresolved (which resets ``closed``)."""
    rev_pos = np.where(unresolved[::-1], np.arange(deal.size), -1)
    # the nearest unresolved row at or after each row, scanning from the end
    nearest_rev = np.maximum.accumulate(rev_pos)
    nearest = np.where(nearest_rev[::-1] >= 0, deal.size - 1 - nearest_rev[::-1], -1)
    later = np.zeros(deal.size, dtype=np.bool_)
    # a row is followed by an unresolved one of its deal if the nearest at-or-after one
    # (excluding itself) belongs to the same deal
    nxt = np.append(nearest[1:], -1)
    ok = nxt >= 0
    later[ok] = deal[nxt[ok]] == deal[ok]
    return later


def _next_shared(cols: DealColumns, act: int) -> float:
    """Days of the first activity after row ``act`` of its deal that a blocker stakeholder
    of the deal or one of the activity's participants takes part in (inf if none). Binary
    searches only (stakeholders and participants are sorted by deal and activity): the cost
    does not grow with the store."""
    deal = cols.a_deal[act]
    lo, hi = np.searchsorted(cols.s_deal, np.array([deal, deal + 1], dtype=cols.s_deal.dtype))
    mine = slice(int(lo), int(hi))
    blockers = cols.s_contact[mine][(cols.s_roles[mine] & BLOCKER) > 0]
    end = int(np.searchsorted(cols.a_deal, deal, side="right"))
    # where each activity's participants start, from ``act`` to the deal's last activity
    start = np.searchsorted(cols.p_act, np.arange(act, end + 1, dtype=cols.p_act.dtype))
    people = set(blockers.tolist()) | set(cols.p_contact[start[0] : start[1]].tolist())
    for b in range(act + 1, end):
        if people.intersection(cols.p_contact[start[b - act] : start[b - act + 1]].tolist()):
            return float(days(cols.a_us[b : b + 1])[0])
    return float(np.inf)


def arrivals(cols: DealColumns) -> tuple[Float, Float]:
    """Per deal (champion known since, first blocker or objection open) in days, inf never
    (``context.arrival_times``)."""
    champion = known_since(cols, CHAMPION)
    opened, closed = blocker_interval(cols)
    return champion, np.where(opened < closed, opened, np.inf)


def recency_at(cols: DealColumns, deal: Int, t: Float) -> Float:
    """Days since each deal's last activity strictly before ``t`` (inf: none)."""
    at = days(cols.a_us)
    last = last_known(cols.a_deal, at, deal, t, inclusive=False)
    return t - pick(at, last, -np.inf)


# --- visits ------------------------------------------------------------------------------


def visit_table(cols: DealColumns, *, as_of: datetime) -> VisitTable:
    """``events.visit_table`` of the same histories, without a loop over deals."""
    from .context import to_days

    limit = to_days(as_of)
    n = len(cols)
    t_days = days(cols.t_us)
    mv = np.flatnonzero(t_days <= limit)
    m_deal, m_from, m_to, m_at = cols.t_deal[mv], cols.t_from[mv], cols.t_to[mv], t_days[mv]
    m_din = cols.t_days_in[mv]
    k = mv.size
    del t_days, mv  # here and below: each array dropped once used (memory grows with moves)
    has_moves = np.zeros(n, dtype=np.bool_)
    has_moves[m_deal] = True
    first = np.ones(k, dtype=np.bool_)
    first[1:] = m_deal[1:] != m_deal[:-1]
    same_next = np.zeros(k, dtype=np.bool_)
    same_next[:-1] = m_deal[1:] == m_deal[:-1]
    # the destination a visit ended by move e gets: the last of a run of closed moves
    closed_to = IS_CLOSED[m_to]
    cont = np.zeros(k, dtype=np.bool_)
    cont[:-1] = closed_to[:-1] & closed_to[1:] & same_next[:-1]
    brk = np.where(~cont, np.arange(k), k)
    del cont
    run_end = np.minimum.accumulate(brk[::-1])[::-1] if k else brk
    del brk
    dest_of_end = np.where(closed_to, m_to[np.minimum(run_end, max(k - 1, 0))], m_to)
    del run_end, closed_to
    created = days(cols.created_us)
    # (a) deals without moves: one censored visit if open and created by the limit
    lone = np.flatnonzero(~has_moves & IS_OPEN[cols.stage] & (created <= limit))
    del has_moves
    # (b) the visit before the first move, in its from-stage
    f = np.flatnonzero(first & (m_from >= 0))
    del first
    f = f[IS_OPEN[m_from[f]]]
    start_b = np.where(np.isnan(m_din[f]), created[m_deal[f]], m_at[f] - m_din[f])
    start_b = np.minimum(start_b, m_at[f])
    del m_din
    # (c) one visit per move into an open stage, ended by the next move of the deal
    c = np.flatnonzero(IS_OPEN[m_to])
    end_c = np.where(same_next[c], c + 1, -1)
    del same_next
    deal = np.concatenate([lone, m_deal[f], m_deal[c]])
    order_key = np.concatenate([np.full(lone.size, -1), np.full(f.size, -1), c])
    stage = np.concatenate([cols.stage[lone], m_from[f], m_to[c]])
    start = np.concatenate([created[lone], start_b, m_at[c]])
    end_move = np.concatenate([np.full(lone.size, -1), f, end_c])
    del lone, f, c, end_c, start_b, created, m_deal, m_from, m_to
    order = np.lexsort((order_key, deal))
    del order_key
    deal, stage, start, end_move = deal[order], stage[order], start[order], end_move[order]
    del order
    ended = end_move >= 0
    em = np.maximum(end_move, 0)
    end = np.where(ended, m_at[em] if k else limit, limit)
    dest = np.where(ended, dest_of_end[em] if k else -1, -1)
    del ended, em, end_move, m_at, dest_of_end
    opened, closed = blocker_interval(cols)
    champion_at = known_since(cols, CHAMPION)
    blocker_at = np.where(opened < closed, opened, np.inf)
    value = _values_at(cols, deal, start)
    return VisitTable(
        deal=deal.astype(np.intp),
        stage=stage.astype(np.intp),
        start=start,
        dwell=np.maximum(end - start, 0.0),
        dest=dest.astype(np.intp),
        champion=champion_at[deal] <= start,
        blocker=(opened[deal] <= start) & ~(closed[deal] <= start),
        value=value,
        recency=recency_at(cols, deal, start),
        champion_at=champion_at[deal],
        blocker_at=blocker_at[deal],
    )


def _values_at(cols: DealColumns, deal: Int, t: Float) -> Float:
    """The value of the latest valued transition at or before each time (ties: the largest
    value), else the deal's value (``events._values_at``)."""
    known = np.flatnonzero(~np.isnan(cols.t_value))
    last = last_known(
        cols.t_deal[known],
        days(cols.t_us[known]),
        deal,
        t,
        inclusive=True,
        tie=cols.t_value[known],
    )
    return pick(cols.t_value[known], last, cols.value[deal])


# --- the world at a cutoff ---------------------------------------------------------------


def data_end(cols: DealColumns) -> datetime | None:
    if not len(cols):
        return None
    top = max(
        int(cols.created_us.max()),
        int(cols.closed_us.max()),
        int(cols.t_us.max()) if cols.t_us.size else NO_TIME,
        int(cols.a_us.max()) if cols.a_us.size else NO_TIME,
    )
    return moment(top)


def first_created(cols: DealColumns) -> datetime | None:
    return moment(int(cols.created_us.min())) if len(cols) else None


@dataclass(frozen=True, slots=True)
class StateAt:
    """Each deal's recorded state just before a cutoff (``snapshot._state_at``): ``known``
    False where it cannot be rebuilt; stage -1 there."""

    known: Bool
    stage: Int
    value: Float
    probability: Float
    closed_us: Us


def _closed_since(cols: DealColumns, rows: Int, last: Int) -> Int:
    """For each deal's last row ``last`` (index into ``rows``, a deal-sorted selection of
    transitions), when it entered the closed state it is in (``snapshot._closed_since``)."""
    frm, to, deal = cols.t_from[rows], cols.t_to[rows], cols.t_deal[rows]
    closed_to = IS_CLOSED[to]
    prev_closed = np.zeros(rows.size, dtype=np.bool_)
    prev_closed[1:] = closed_to[:-1] & (deal[1:] == deal[:-1])
    from_closed = np.where(frm >= 0, IS_CLOSED[frm], False)
    reset = closed_to & (~prev_closed | (frm < 0) | ~from_closed)
    pos = np.where(reset, np.arange(rows.size), -1)
    latest = np.maximum.accumulate(pos) if pos.size else pos
    at = latest[last]
    out: Int = np.where(at >= 0, cols.t_us[rows][np.maximum(at, 0)], NO_TIME)
    return out


def state_at(cols: DealColumns, cutoff_us: int) -> StateAt:
    n = len(cols)
    starts = _starts(cols.t_deal, n)
    has_t = starts[1:] > starts[:-1]
    before = np.flatnonzero(cols.t_us < cutoff_us)
    b_deal = cols.t_deal[before]
    b_starts = _starts(b_deal, n)
    has_before = b_starts[1:] > b_starts[:-1]
    stage = np.full(n, -1, dtype=np.int64)
    value = np.full(n, np.nan)
    prob = np.full(n, np.nan)
    closed = np.full(n, NO_TIME, dtype=np.int64)
    known = np.zeros(n, dtype=np.bool_)
    # (1) a transition before the cutoff: the last one says it all
    hb = np.flatnonzero(has_before)
    last_b = b_starts[1:][hb] - 1
    last_row = before[last_b]
    stage[hb] = cols.t_to[last_row]
    value[hb] = cols.t_value[last_row]
    prob[hb] = cols.t_prob[last_row]
    since = _closed_since(cols, before, last_b)
    closed[hb] = np.where(IS_CLOSED[stage[hb]], since, NO_TIME)
    known[hb] = True
    # (2) created before it, first change after it: the first change's from-stage
    fa = np.flatnonzero(has_t & ~has_before)
    first_row = starts[:-1][fa]
    frm, to = cols.t_from[first_row], cols.t_to[first_row]
    ok = (frm >= 0) | ~IS_CLOSED[to]
    stage[fa[ok]] = np.where(frm >= 0, frm, to)[ok]
    known[fa[ok]] = True
    # (3) no history: an open deal, or one closed before the cutoff
    nh = np.flatnonzero(~has_t)
    open_now = IS_OPEN[cols.stage[nh]]
    closed_before = (cols.closed_us[nh] != NO_TIME) & (cols.closed_us[nh] < cutoff_us)
    ok3 = open_now | (~IS_OPEN[cols.stage[nh]] & closed_before)
    stage[nh[ok3]] = cols.stage[nh[ok3]]
    closed[nh[ok3]] = np.where(open_now[ok3], NO_TIME, cols.closed_us[nh[ok3]])
    known[nh[ok3]] = True
    known &= cols.created_us < cutoff_us
    return StateAt(known, stage, value, prob, closed)


def snapshot(cols: DealColumns, cutoff: datetime) -> DealColumns:
    """Every deal created before ``cutoff``, as it was then (``snapshot.as_of``)."""
    require_aware(cutoff, "cutoff")
    cut = to_micros(cutoff)
    state = state_at(cols, cut)
    still_open = IS_OPEN[np.maximum(state.stage, 0)] & state.known
    t_keep = cols.t_us < cut
    a_keep = cols.a_us < cut
    resolved_before = cols.o_resolved & (cols.o_resolved_us != NO_TIME)
    resolved_before &= cols.o_resolved_us < cut
    in_open = still_open[cols.a_deal[cols.o_act]]
    o_resolved = np.where(in_open, resolved_before, cols.o_resolved)
    o_at = np.where(in_open & ~resolved_before, NO_TIME, cols.o_resolved_us)
    cut_cols = dataclasses.replace(
        cols,
        stage=np.where(state.known, state.stage, cols.stage),
        value=state.value,
        probability=state.probability,
        closed_us=state.closed_us,
        o_resolved=o_resolved,
        o_resolved_us=o_at,
    )
    # rows dated at or after the cutoff go, with the deals not known then: one copy
    return cut_cols.take(state.known, t=t_keep, s=cols.s_created_us < cut, a=a_keep)


@dataclass(frozen=True, slots=True)
class Outcomes:
    """How each deal open at a cutoff ended, as arrays (``outcome_arrays``): its row in the
    columns, final stage code, when it entered that closed state (``NO_TIME``: still open at
    the end of the data) and the label a P(win) is scored against (1.0 won, 0.0 not won, NaN
    the data cannot tell: ``snapshot.OutcomeAfter.won``)."""

    rows: Int
    final: Int
    closed_us: Int
    won: NDArray[np.float64]


def outcome_arrays(
    cols: DealColumns,
    cutoff: datetime,
    horizon_days: int | None,
    *,
    end: datetime | None = None,
) -> Outcomes:
    """``outcomes_after`` as arrays, without an object per deal."""
    require_aware(cutoff, "cutoff")
    if horizon_days is not None and horizon_days <= 0:
        raise InvalidInput(
            f"horizon_days must be a positive number of days, not {horizon_days}",
            field="horizon_days",
        )
    end = data_end(cols) if end is None else end
    cut = to_micros(cutoff)
    state = state_at(cols, cut)
    rows = np.flatnonzero(state.known & IS_OPEN[np.maximum(state.stage, 0)])
    starts = _starts(cols.t_deal, len(cols))
    has_t = (starts[1:] > starts[:-1])[rows]
    last = np.maximum(starts[1:] - 1, 0)
    final = np.where(has_t, cols.t_to[last[rows]] if cols.t_to.size else -1, cols.stage[rows])
    stored = cols.closed_us[rows]
    us = stored
    if cols.t_us.size:
        us = np.where(has_t, _closed_since(cols, np.arange(cols.t_us.size), last)[rows], stored)
    fallback = np.where(stored != NO_TIME, stored, cut)
    us = np.where((us == NO_TIME) | (us < cut), fallback, us)
    closed = IS_CLOSED[final]
    closed_us = np.where(closed, us, NO_TIME)
    won = np.where(closed, (final == WON).astype(np.float64), np.nan)
    if horizon_days is not None:
        days = (np.where(closed, us, cut) - cut) / 1e6 / _DAY_SECONDS  # as days_between
        seen_to_horizon = end is not None and end >= cutoff + timedelta(days=horizon_days)
        within = closed & (days <= horizon_days)
        won = np.where(within, won, 0.0 if seen_to_horizon else np.where(closed, 0.0, np.nan))
    return Outcomes(rows, final, closed_us, won)


def outcomes_after(
    cols: DealColumns,
    cutoff: datetime,
    horizon_days: int | None,
    *,
    end: datetime | None = None,
) -> list[OutcomeAfter]:
    """For each deal open at ``cutoff``, how it ended (``snapshot.outcomes_after``)."""
    found = outcome_arrays(cols, cutoff, horizon_days, end=end)
    out = []
    for i, fin, us, won in zip(
        found.rows.tolist(),
        found.final.tolist(),
        found.closed_us.tolist(),
        found.won.tolist(),
        strict=True,
    ):
        closed_at = None if us == NO_TIME else moment(us)
        outcome = (
            DealOutcome.WON if fin == WON else DealOutcome.LOST if fin == LOST else DealOutcome.OPEN
        )
        out.append(
            OutcomeAfter(
                deal_id=cols.deal_id(i),
                cutoff=cutoff,
                outcome=outcome,
                closed_at=closed_at,
                days_to_close=None if closed_at is None else days_between(cutoff, closed_at),
                won=None if math.isnan(won) else won == 1.0,  # NaN: the data cannot tell
            )
        )
    return out


def stage_names(codes: Sequence[int]) -> list[Stage]:
    return [ALL_STAGES[c] for c in codes]


__all__ = [
    "N_STAGES",
    "ColumnsBuilder",
    "DealColumns",
    "arrivals",
    "data_end",
    "from_histories",
    "outcome_arrays",
    "outcomes_after",
    "snapshot",
    "visit_table",
]
