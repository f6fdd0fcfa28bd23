"""Runs the agents in order on one applicant; a failing agent never stops the run."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from loanproject.core.logging import redact

from .affordability import AffordabilityAgent
from .base import Agent
from .credit import BureauAgent, CreditScoringAgent
from .decision import DecisionAgent
from .facts import ApplicantFacts, PolicyRules
from .fraud import FraudAgent
from .income import IncomeVerificationAgent
from .risk import RiskAgent

logger = logging.getLogger(__name__)

AGENTS: tuple[Agent, ...] = (
    BureauAgent(),
    CreditScoringAgent(),
    AffordabilityAgent(),
    IncomeVerificationAgent(),
    FraudAgent(),
    RiskAgent(),
    DecisionAgent(),
)


@dataclass
class AgentRun:
    agent_name: str
    agent_version: str
    status: str
    input: dict
    output: dict
    error_message: str
    execution_ms: Decimal
    timestamp: datetime


@dataclass
class PipelineResult:
    runs: list[AgentRun] = field(default_factory=list)
    outputs: dict[str, dict] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)  # names of the agents that raised


def run_pipeline(facts: ApplicantFacts, rules: PolicyRules, agents: tuple[Agent, ...] = AGENTS) -> PipelineResult:
    result = PipelineResult()
    stamp = datetime.now(UTC)  # one timestamp per run: the agents take microseconds
    for agent in agents:
        started = time.perf_counter()
        missing = [name for name in agent.requires if name not in result.outputs]
        if missing:
            result.runs.append(
                AgentRun(
                    agent.name, agent.version, "skipped", {}, {}, f"needs {', '.join(missing)}", Decimal("0.000"), stamp
                )
            )
            continue
        inputs: dict = {}
        try:
            # Two steps, not agent.run: when `decide` fails, the inputs it failed on are the record
            # that lets someone replay and explain the failure.
            inputs = agent.gather(facts, rules, result.outputs)
            output = agent.decide(inputs)
        except Exception as exc:
            logger.exception("agent %s failed on application %s", agent.name, facts.application_id)
            # The message is stored and shown to staff: an exception that quotes a PAN or a token
            # must not put it in clear into the database.
            message = redact(f"{type(exc).__name__}: {exc}")[:2000]
            result.runs.append(
                AgentRun(agent.name, agent.version, "failed", inputs, {}, message, _elapsed_ms(started), stamp)
            )
            result.failed.append(agent.name)
            continue
        result.outputs[agent.name] = output
        result.runs.append(
            AgentRun(agent.name, agent.version, "success", inputs, output, "", _elapsed_ms(started), stamp)
        )
    return result


def _elapsed_ms(started: float) -> Decimal:
    return Decimal(round((time.perf_counter() - started) * 1_000_000)).scaleb(-3)  # ms, 3 places
