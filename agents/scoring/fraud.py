"""Fraud and duplicate checks."""

from __future__ import annotations

from .base import Agent

VELOCITY_LIMIT = 3  # applications with one PAN in 30 days before it looks like shopping or fraud
FLAG_POINTS = {"duplicate_open_application": 40, "email_shared": 25, "phone_shared": 25, "velocity": 20}


class FraudAgent(Agent):
    """Same PAN with another open application, an e-mail or phone shared with other PANs, and
    the number of applications with one PAN in the last 30 days."""

    name = "fraud_checks"
    version = "1.0"

    def gather(self, facts, rules, upstream) -> dict:
        return {
            "other_open_applications_same_pan": facts.other_open_applications_same_pan,
            "other_pans_sharing_email": facts.other_pans_sharing_email,
            "other_pans_sharing_phone": facts.other_pans_sharing_phone,
            "applications_same_pan_30d": facts.applications_same_pan_30d,
        }

    def decide(self, inputs: dict) -> dict:
        flags = []
        if inputs["other_open_applications_same_pan"] > 0:
            flags.append("duplicate_open_application")
        if inputs["other_pans_sharing_email"] > 0:
            flags.append("email_shared")
        if inputs["other_pans_sharing_phone"] > 0:
            flags.append("phone_shared")
        if inputs["applications_same_pan_30d"] > VELOCITY_LIMIT:
            flags.append("velocity")
        return {
            "flags": flags,
            "fraud_score": min(100, sum(FLAG_POINTS[flag] for flag in flags)),
            "duplicate": "duplicate_open_application" in flags,
        }
