"""Staff screens for personal finance. Every change goes through finance.services; tokens are
never rendered; list pages cost a fixed number of queries whatever their length."""

from . import accounts, connections, customers, planning, records  # noqa: F401  (registers the admins)
