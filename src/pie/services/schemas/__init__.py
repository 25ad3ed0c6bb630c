"""The JSON shapes PIE speaks, in the API and in the CLI's --json output alike."""

from pie.services.schemas.backtest import (
    BacktestRead,
    CutoffScoresRead,
    ForecasterScoresRead,
    ReliabilityBinRead,
    ScoresRead,
)
from pie.services.schemas.changes import ChangePageRead, ChangeRead, FieldOrigin, PolicyRead
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
    "ChangePageRead",
    "ChangeRead",
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
    "FieldOrigin",
    "ForecasterScoresRead",
    "Health",
    "OpenDealForecastRead",
    "PageRead",
    "PeriodForecastRead",
    "PipelineForecastRead",
    "PolicyRead",
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
