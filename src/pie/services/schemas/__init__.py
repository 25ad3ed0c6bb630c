"""The JSON shapes PIE speaks, in the API and in the CLI's --json output alike."""

from pie.services.schemas.backtest import (
    BacktestRead,
    CutoffScoresRead,
    ForecasterScoresRead,
    ReliabilityBinRead,
    ScoresRead,
)
from pie.services.schemas.errors import ErrorBody, ErrorCode, ErrorDetail
from pie.services.schemas.process import (
    ProcessRead,
    StageEffectRead,
    SufficiencyRead,
    TransitionRead,
)
from pie.services.schemas.records import (
    AccountDetailRead,
    AccountRead,
    ContactRead,
    DealDetailRead,
    DealRead,
    Health,
    PageRead,
    SummaryRead,
    account_page,
    deal_page,
)
from pie.services.schemas.simulation import (
    DealForecastRead,
    DealInPeriodRead,
    DealSimulationRead,
    OpenDealForecastRead,
    PeriodForecastRead,
    PipelineForecastRead,
    ScenarioResultRead,
)

__all__ = [
    "AccountDetailRead",
    "AccountRead",
    "BacktestRead",
    "ContactRead",
    "CutoffScoresRead",
    "DealDetailRead",
    "DealForecastRead",
    "DealInPeriodRead",
    "DealRead",
    "DealSimulationRead",
    "ErrorBody",
    "ErrorCode",
    "ErrorDetail",
    "ForecasterScoresRead",
    "Health",
    "OpenDealForecastRead",
    "PageRead",
    "PeriodForecastRead",
    "PipelineForecastRead",
    "ProcessRead",
    "ReliabilityBinRead",
    "ScenarioResultRead",
    "ScoresRead",
    "StageEffectRead",
    "SufficiencyRead",
    "SummaryRead",
    "TransitionRead",
    "account_page",
    "deal_page",
]
