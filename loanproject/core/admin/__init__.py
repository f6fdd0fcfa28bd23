"""Admin of the core app (outbox, receipts, idempotency keys) and mixins for every app's admin."""

from . import approvals, exports, outbox  # noqa: F401  (registers the admins)
