"""Shared building blocks: money, encrypted and blind-index fields, the transactional outbox and
idempotent consumers, request idempotency, the API error format, health views, logging and roles.

This app imports no other app of the project."""
