"""Per-deal random streams: counter-based, keyed on (seed, the deal's stable identity).

A deal's uniforms depend only on the seed and its identity (``stream_identity``: its source
id where it has one, else its PIE id), never on which other deals are simulated with it, in
what order, or in which tenant. So a deal's forecast is the same alone, in a pipeline or in
another tenant holding the same data, and simulation errors of different deals are
independent instead of moving together. A baseline and a scenario of one deal share its
stream: common random numbers.

uniform(deal, run, step) = SplitMix64(deal_key + counter x gamma), counter = run x 1024 + step,
deal_key = SplitMix64(seed key + hash(identity)).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from uuid import UUID

import numpy as np
from numpy.typing import NDArray

from pie.domain.errors import InvalidInput
from pie.domain.model import Deal

U64 = NDArray[np.uint64]
_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
#: counters per run: a path takes at most this many steps (MAX_STEPS must stay below it)
STEPS_PER_RUN = 1024
MAX_SEED = 2**63 - 1


class InvalidSeed(InvalidInput, ValueError):
    """A seed that is not a whole number in [0, 2**63)."""


def check_seed(seed: int) -> int:
    """``seed`` itself when it is usable; else InvalidSeed naming the field."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise InvalidSeed(f"seed must be a whole number, not {seed!r}", field="seed")
    if not 0 <= int(seed) <= MAX_SEED:
        raise InvalidSeed(
            f"seed must be between 0 and {MAX_SEED}, not {seed}; use e.g. --seed 0",
            field="seed",
        )
    return int(seed)


def seed_key(seed: int) -> int:
    """The 64-bit key of a seed (the seed checked, then mixed)."""
    return int(mix(np.array([check_seed(seed)], dtype=np.uint64))[0])


def stream_identity(deal: Deal) -> str:
    """The deal's stable identity: ``source:external id`` when the source gave one (the same
    in every tenant that imports it), else its PIE id."""
    return identity_of(deal.id, deal.source, deal.external_ids)


def identity_of(deal_id: UUID, source: str, ids: Mapping[str, str]) -> str:
    """``stream_identity`` from the deal's id, source and external ids."""
    if source in ids:
        return f"{source}:{ids[source]}"
    if ids:
        return ";".join(f"{k}:{v}" for k, v in sorted(ids.items()))
    return str(deal_id)


def identity_hash(identities: Sequence[str]) -> U64:
    """64 bits of BLAKE2b per identity."""
    return np.array(
        [int.from_bytes(hashlib.blake2b(i.encode(), digest_size=8).digest(), "little")
         for i in identities],
        dtype=np.uint64,
    )  # fmt: skip


def mix(z: U64) -> U64:
    """The SplitMix64 finaliser (a bijection on 64 bits)."""
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    out: U64 = z ^ (z >> np.uint64(31))
    return out


def deal_keys(key: int, identity: U64) -> U64:
    """Each deal's stream key from the run's key and the hash of its identity."""
    offset = np.uint64((key * int(_GAMMA) + int(_GAMMA)) % 2**64)
    return mix(identity + offset)


def stream_origin(keys: U64, counter: U64) -> U64:
    """Where each (stream key, counter) pair starts: ``uniforms(origin, step)`` then reads
    counter + step of that stream."""
    out: U64 = counter * _GAMMA + keys
    return out


def uniforms(origin: U64, step: int = 0) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Two uniforms in (0, 1) per stream origin, ``step`` counters on (32 bits each)."""
    z = mix(origin + np.uint64(step * int(_GAMMA) % 2**64))
    hi = ((z >> np.uint64(32)).astype(np.float64) + 0.5) * 2.0**-32
    lo = ((z & np.uint64(0xFFFFFFFF)).astype(np.float64) + 0.5) * 2.0**-32
    return hi, lo


def generator(seed: int) -> np.random.Generator:
    """The Generator a simulation draws its run key from, for a checked ``seed``."""
    return np.random.default_rng(check_seed(seed))
