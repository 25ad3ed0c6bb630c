from pie.reporting.html import (
    CalibrationBin,
    FlowEdge,
    ForecastView,
    ReportInput,
    ScoreRow,
    render_report,
)


def test_report_draws_flow_forecast_and_calibration_and_escapes_text() -> None:
    html = render_report(
        ReportInput(
            title="Q4 <pipeline>",
            flow=[
                FlowEdge("lead", "qualification", 120, 6.5),
                FlowEdge("qualification", "closed_lost", 40, 12.0),
                FlowEdge("negotiation", "closed_won", 30, 9.0),
            ],
            forecast=ForecastView(
                period="2026Q4",
                histogram_edges=[0.0, 1e5, 2e5, 3e5],
                histogram_counts=[10, 50, 20],
                p10=5e4,
                p50=1.5e5,
                p90=2.6e5,
                expected_value=1.6e5,
                expected_wins=7.5,
                open_deals=40,
            ),
            calibration=[CalibrationBin(0.15, 0.1, 30), CalibrationBin(0.75, 0.8, 12)],
            scores=[ScoreRow("PIE model", 0.17, 0.5, 0.04)],
            facts={"deals": "1,000 & more"},
        )
    )
    assert html.count("<svg") == 3
    assert "Q4 &lt;pipeline&gt;" in html
    assert "<pipeline>" not in html
    assert "1,000 &amp; more" in html
    assert "lead → qualification: 120, median 6 days" in html  # hover text on the flow
    assert "P50 $150k" in html
    assert "<script" not in html


def test_report_without_data_says_so() -> None:
    html = render_report(ReportInput(title="empty", flow=[]))
    assert "No stage transitions yet." in html
    assert "No back-test yet." in html


def test_report_shows_calibration_before_and_after_the_map() -> None:
    html = render_report(
        ReportInput(
            title="t",
            flow=[FlowEdge("lead", "closed_won", 3, 1.0)],
            calibration=[CalibrationBin(0.2, 0.2, 30), CalibrationBin(0.6, 0.6, 30)],
            calibration_before=[CalibrationBin(0.3, 0.2, 30), CalibrationBin(0.8, 0.6, 30)],
        )
    )
    assert "before the calibration map" in html
    assert html.count("<polyline") == 2
