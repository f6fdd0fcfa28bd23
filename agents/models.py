"""Scoring agents, their runs and the scoring policy (built in the scoring issue).

Imports applications, finance and loanproject.core only."""
