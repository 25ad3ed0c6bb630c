"""Per-deal random streams: a deal's forecast depends on the seed and its identity only."""

from __future__ import annotations

import dataclasses
import uuid
from pathlib import Path

import numpy as np
import pytest

from pie.domain.errors import InvalidInput
from pie.domain.history import DealHistory
from pie.domain.stages import Stage
from pie.importing import import_file
from pie.mining import Context, ProcessModel
from pie.sample.generate import generate
from pie.services import simulation as svc
from pie.services.histories import load_histories
from pie.simulation import DealState, deal_state, exact, simulate
from pie.simulation.backtest import BacktestReport
from pie.simulation.forecaster import MarkovForecaster
from pie.simulation.streams import InvalidSeed, check_seed, generator, stream_identity
from tests.dbfixtures import Database
from tests.unit.simulation.conftest import context_held

Synth = tuple[list[DealHistory], ProcessModel]


def _state(i: int, stage: Stage = Stage.QUALIFICATION) -> DealState:
    return DealState(
        deal_id=uuid.uuid4(), stage=stage, days_in_stage=3.0, context=Context(), stream=f"crm:{i}"
    )


def test_a_deal_forecasts_the_same_alone_and_in_a_pipeline(synth: Synth) -> None:
    histories, model = synth
    states = [deal_state(h, model, as_of=model.as_of) for h in histories if h.deal.is_open][:30]
    together = simulate(model, states, runs=700, rng=generator(5), chunk_paths=1400)
    for i in (0, 13, 29):
        alone = simulate(model, [states[i]], runs=700, rng=generator(5))[0]
        assert alone == together[i]
    reversed_ = simulate(model, states[::-1], runs=700, rng=generator(5))
    assert reversed_[::-1] == together


def test_the_same_source_identity_gives_the_same_forecast_in_another_tenant(synth: Synth) -> None:
    histories, model = synth
    open_ = [h for h in histories if h.deal.is_open][:10]

    def in_tenant(h: DealHistory, n: int) -> DealHistory:
        tenant = uuid.UUID(int=n)
        deal = dataclasses.replace(
            h.deal,
            id=uuid.uuid5(tenant, h.deal.name),
            tenant_id=tenant,
            source="crm",
            external_ids={"crm": h.deal.name},
        )
        return dataclasses.replace(h, deal=deal)

    a = [deal_state(in_tenant(h, 1), model, as_of=model.as_of) for h in open_]
    b = [deal_state(in_tenant(h, 2), model, as_of=model.as_of) for h in open_]
    assert {s.deal_id for s in a}.isdisjoint(s.deal_id for s in b)
    ra = simulate(model, a, runs=500, rng=generator(0))
    rb = simulate(model, b[::-1], runs=500, rng=generator(0))[::-1]
    assert [dataclasses.replace(r, deal_id=a[0].deal_id) for r in ra] == [
        dataclasses.replace(r, deal_id=a[0].deal_id) for r in rb
    ]


@pytest.mark.parametrize("runs", [250, 1000, 4000])
def test_errors_of_different_deals_are_independent_and_shrink_like_one_over_root_runs(
    synth: Synth, runs: int
) -> None:
    """400 deals in the same state: with one shared stream they would all get the same answer
    and the mean error would not shrink with the number of deals."""
    model = context_held(synth[1])  # the chain exact() solves
    states = [_state(i) for i in range(400)]
    truth = float(exact(model, states[:1]).p_win[0])
    p = np.array([o.p_win for o in simulate(model, states, runs=runs, rng=generator(0))])
    sd_one = np.sqrt(truth * (1 - truth) / runs)
    assert abs(p.mean() - truth) < 4 * sd_one / np.sqrt(p.size)
    assert 0.8 < p.std(ddof=1) / sd_one < 1.2  # each deal its own binomial noise


def test_a_deal_keyed_by_its_source_id_else_its_pie_id(synth: Synth) -> None:
    deal = synth[0][0].deal
    assert stream_identity(deal) == str(deal.id)
    sourced = dataclasses.replace(deal, source="hubspot", external_ids={"hubspot": "42"})
    assert stream_identity(sourced) == "hubspot:42"


@pytest.mark.parametrize("seed", [-1, -(2**70), 2**63])
def test_a_seed_out_of_range_is_a_clear_error(seed: int) -> None:
    with pytest.raises(InvalidSeed, match="seed must be between 0") as err:
        check_seed(seed)
    assert isinstance(err.value, ValueError) and isinstance(err.value, InvalidInput)
    assert err.value.field == "seed"
    with pytest.raises(InvalidSeed):
        MarkovForecaster(seed=seed)


async def test_two_tenants_with_the_same_import_get_identical_back_tests(
    db: Database, tmp_path: Path
) -> None:
    path = tmp_path / "world.json"
    generate(path, deals=400, seed=11, conversations=False)
    reports = []
    for _ in range(2):
        tenant = (await db.new_tenant()).tenant.id
        await import_file(db.uow(tenant), path)
        histories = await load_histories(db.uow(tenant))
        reports.append(await svc.backtest_histories(histories, runs=300, seed=4))
    a, b = reports
    assert a.model.pooled.n_scored > 20

    def forecasts(r: BacktestReport) -> list[tuple[float, ...]]:
        return sorted(
            (f.cutoff.timestamp(), p.p_win, p.expected_days, p.days_p10, p.days_p90)
            for f in r.model.forecasts
            for p in [f.prediction]
        )

    assert forecasts(a) == forecasts(b)  # deals' ids differ; each deal's forecast does not
    for x, y in [(a.model, b.model), *((a.baselines[k], b.baselines[k]) for k in a.baselines)]:
        for (_, sa), (_, sb) in zip(x.per_cutoff, y.per_cutoff, strict=True):
            assert sa.brier == pytest.approx(sb.brier, abs=1e-12)
            assert sa.ece == pytest.approx(sb.ece, abs=1e-12)
    with pytest.raises(InvalidSeed):
        await svc.backtest(db.uow(tenant), runs=300, seed=-1)
