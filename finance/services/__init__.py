"""Every state change of the finance app. Each function takes keyword arguments, validates,
and runs in a transaction (imports and bulk snapshots: one per chunk, see their modules).
With `partner`, a service reaches only that partner's customers; another partner's ids are
refused exactly like ids that do not exist."""

from .accounts import AccountData, close_account, open_account, restore_account, update_account
from .budgets import create_budget, delete_budget, update_budget
from .connections import connect_bank, disconnect_bank, record_connection_sync, update_bank_connection
from .documents import update_document_data, upload_document
from .goals import contribute_to_goal, create_goal, delete_goal, update_goal
from .imports import (
    ImportReport,
    RowError,
    TransactionInput,
    count_csv_rows,
    import_transactions,
    import_transactions_csv,
)
from .snapshots import (
    SnapshotReport,
    count_customers_with_open_accounts,
    take_net_worth_snapshot,
    take_net_worth_snapshots,
)

__all__ = [
    "AccountData",
    "ImportReport",
    "RowError",
    "SnapshotReport",
    "TransactionInput",
    "close_account",
    "connect_bank",
    "contribute_to_goal",
    "count_csv_rows",
    "count_customers_with_open_accounts",
    "create_budget",
    "create_goal",
    "delete_budget",
    "delete_goal",
    "disconnect_bank",
    "import_transactions",
    "import_transactions_csv",
    "open_account",
    "record_connection_sync",
    "restore_account",
    "take_net_worth_snapshot",
    "take_net_worth_snapshots",
    "update_account",
    "update_bank_connection",
    "update_budget",
    "update_document_data",
    "update_goal",
    "upload_document",
]
