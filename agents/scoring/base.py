"""What an agent is: a name, a version, the agents it builds on, and two pure steps."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import ClassVar

from .facts import ApplicantFacts, PolicyRules


class Agent(ABC):
    name: ClassVar[str]
    version: ClassVar[str]
    requires: ClassVar[tuple[str, ...]] = ()

    @abstractmethod
    def gather(self, facts: ApplicantFacts, rules: PolicyRules, upstream: Mapping[str, dict]) -> dict:
        """The inputs this agent decides on (recorded with its result)."""

    @abstractmethod
    def decide(self, inputs: dict) -> dict:
        """The agent's output, from its inputs alone."""

    def run(self, facts: ApplicantFacts, rules: PolicyRules, upstream: Mapping[str, dict]) -> tuple[dict, dict]:
        inputs = self.gather(facts, rules, upstream)
        return inputs, self.decide(inputs)
