from decimal import Decimal

from agents.scoring.pipeline import AGENTS, run_pipeline
from agents.scoring.risk import RiskAgent

from .factories import DEFAULT_RULES, facts


def test_every_agent_runs_in_order_and_records_inputs_and_outputs():
    result = run_pipeline(facts(), DEFAULT_RULES)

    assert [(run.agent_name, run.status) for run in result.runs] == [
        ("bureau", "success"),
        ("credit_scoring", "success"),
        ("affordability", "success"),
        ("income_verification", "success"),
        ("fraud_checks", "success"),
        ("risk_assessment", "success"),
        ("decision", "success"),
    ]
    assert [run.agent_version for run in result.runs] == ["1.0"] * 5 + ["1.1", "1.0"]
    assert result.runs[2].input["requested_amount"] == Decimal("12000.00")
    assert result.runs[2].output["back_end_dti"] == Decimal("19.30")
    assert all(run.execution_ms >= 0 for run in result.runs)
    assert result.failed == []


def test_a_failing_agent_is_recorded_and_only_its_dependents_are_skipped(monkeypatch):
    def broken(self, inputs):
        raise RuntimeError("risk model unavailable")

    monkeypatch.setattr(RiskAgent, "decide", broken)

    result = run_pipeline(facts(), DEFAULT_RULES, AGENTS)

    statuses = {run.agent_name: (run.status, run.error_message) for run in result.runs}
    assert statuses["risk_assessment"] == ("failed", "RuntimeError: risk model unavailable")
    assert statuses["decision"] == ("skipped", "needs risk_assessment")
    assert statuses["affordability"] == ("success", "")
    assert result.failed == ["risk_assessment"]
    assert "decision" not in result.outputs


def test_a_failing_decide_keeps_the_inputs_it_was_given(monkeypatch):
    def broken(self, inputs):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(RiskAgent, "decide", broken)

    result = run_pipeline(facts(), DEFAULT_RULES, AGENTS)

    failed = next(run for run in result.runs if run.agent_name == "risk_assessment")
    assert (failed.status, failed.output, failed.error_message) == ("failed", {}, "ZeroDivisionError: division by zero")
    assert failed.input == {
        "credit_score": 717,
        "back_end_dti": Decimal("19.30"),
        "employment_status": "employed",
        "employment_duration_months": 30,
        "income_status": "mismatch",
    }


def test_a_failing_gather_records_no_inputs(monkeypatch):
    def broken(self, facts, rules, upstream):
        raise KeyError("fraud_score")

    monkeypatch.setattr(RiskAgent, "gather", broken)

    result = run_pipeline(facts(), DEFAULT_RULES, AGENTS)

    failed = next(run for run in result.runs if run.agent_name == "risk_assessment")
    assert (failed.status, failed.input, failed.error_message) == ("failed", {}, "KeyError: 'fraud_score'")


def test_a_failure_message_quoting_a_pan_is_stored_masked(monkeypatch):
    def broken(self, inputs):
        raise ValueError("bureau refused PAN ABCDE1234F")

    monkeypatch.setattr(RiskAgent, "decide", broken)

    result = run_pipeline(facts(), DEFAULT_RULES, AGENTS)

    failed = next(run for run in result.runs if run.agent_name == "risk_assessment")
    assert failed.error_message == "ValueError: bureau refused PAN XXXXXX234F"
