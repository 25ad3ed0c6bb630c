"""Exact p_win and expected days to close from the absorbing Markov chain.

The embedded jump chain of the mined semi-Markov process: from a fresh visit of stage s in
context c, P(next = j) integrates the cause-specific rates over the dwell distribution. The
current stage is conditioned on the days already spent in it. With Q the transient-to-transient
block and N = (I - Q)^-1 the fundamental matrix, P(win) = p0_win + p0_T N R_win and
E[days] = m0 + p0_T N m_T (m: mean dwell per stage). The context is held fixed, as in the
Monte Carlo engine.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from pie.mining.events import LOST, N_STAGES, WON
from pie.mining.model import ProcessModel
from pie.mining.survival import exit_profile

from .montecarlo import Starts
from .state import DealState

Float = NDArray[np.float64]
TRANSIENT = np.array([i for i in range(N_STAGES) if i not in (WON, LOST)])


@dataclass(frozen=True, slots=True)
class ExactResult:
    p_win: Float  # (deals,)
    expected_days: Float


def _jump(
    model: ProcessModel, stage: NDArray[np.intp], ctx: NDArray[np.intp], spent: Float
) -> tuple[Float, Float]:
    rate = model.rates[stage, ctx]
    total = rate.sum(axis=-1)
    p_exit, mean = exit_profile(total, model.edges, spent)
    share = rate / np.maximum(total, 1e-300)[..., None]
    return np.einsum("rb,rbd->rd", p_exit, share), mean


def exact(model: ProcessModel, states: Sequence[DealState]) -> ExactResult:
    """Exact answers for deals whose scenario is expressible in the chain (no demo credit)."""
    starts = Starts.of(model, states)
    if np.any(starts.credit > 0):
        raise ValueError("accelerate_demo has no exact answer; use the Monte Carlo engine")
    contexts, inverse = np.unique(starts.context, return_inverse=True)
    k, t = contexts.size, TRANSIENT.size
    stage = np.tile(TRANSIENT, k)
    ctx = np.repeat(contexts, t)
    p, m = _jump(model, stage, ctx, np.zeros(stage.size))
    p = p.reshape(k, t, N_STAGES)
    m = m.reshape(k, t)
    q = p[:, :, TRANSIENT]
    eye = np.broadcast_to(np.eye(t), q.shape)
    rhs = np.stack([p[:, :, WON], m], axis=-1)  # (k, t, 2)
    solved = np.linalg.solve(eye - q, rhs)  # N @ [R_win, m]
    p0, m0 = _jump(model, starts.stage, starts.context, starts.spent)
    via = solved[inverse]  # (deals, t, 2)
    p_win = p0[:, WON] + np.einsum("dt,dt->d", p0[:, TRANSIENT], via[:, :, 0])
    days = m0 + np.einsum("dt,dt->d", p0[:, TRANSIENT], via[:, :, 1])
    return ExactResult(p_win=p_win, expected_days=days)
