"""The loans' part of the chart of accounts, opened on first use."""

from __future__ import annotations

from ledger import services as ledger
from ledger.models import Account, AccountType, Category
from ledger.parties import Party

from .models import DRIVER_PARTY_TYPE, Driver

CASH = ("1000", "Cash at bank", AccountType.ASSET)
LOANS_PRINCIPAL = ("1300", "Driver loans principal not yet billed", AccountType.ASSET)
INTEREST_INCOME = ("4100", "Driver loan interest income", AccountType.INCOME)
LATE_FEE_INCOME = ("4200", "Late fee income", AccountType.INCOME)
ORIGINATION_FEE_INCOME = ("4300", "Loan origination fee income", AccountType.INCOME)
LEASE_INCOME = ("4400", "Lease income", AccountType.INCOME)
TOLLS_AND_FINES_PAYABLE = ("2100", "Tolls and fines payable", AccountType.LIABILITY)
OTHER_INCOME = ("4900", "Other income", AccountType.INCOME)
RECOVERY_INCOME = ("4950", "Recoveries on written-off loans", AccountType.INCOME)
LOAN_LOSSES = ("5100", "Loan losses", AccountType.EXPENSE)


def _open(spec: tuple[str, str, str]) -> Account:
    code, name, type = spec
    return ledger.open_account(code=code, name=name, type=type)


def cash_account() -> Account:
    return _open(CASH)


def principal_account() -> Account:
    """Principal lent and not yet billed; each posted installment moves its principal to the driver."""
    return _open(LOANS_PRINCIPAL)


def interest_income_account() -> Account:
    return _open(INTEREST_INCOME)


def late_fee_income_account() -> Account:
    """Credited by each late fee (Dr the driver's PENALTY receivable), debited by its waiver."""
    return _open(LATE_FEE_INCOME)


def origination_fee_income_account() -> Account:
    return _open(ORIGINATION_FEE_INCOME)


def lease_income_account() -> Account:
    return _open(LEASE_INCOME)


def tolls_and_fines_payable_account() -> Account:
    """What the drivers' tolls and tickets are owed to the authorities: paying them is Dr 2100 / Cr 1000."""
    return _open(TOLLS_AND_FINES_PAYABLE)


def other_income_account() -> Account:
    return _open(OTHER_INCOME)


def recovery_income_account() -> Account:
    """Money received for a loan after its write-off: income, never a reopened receivable."""
    return _open(RECOVERY_INCOME)


def loan_losses_account() -> Account:
    """Debited by a write-off for what the loan still owed (billed and unbilled)."""
    return _open(LOAN_LOSSES)


def driver_party(driver: Driver | int) -> Party:
    return Party.of(DRIVER_PARTY_TYPE, driver.pk if isinstance(driver, Driver) else driver)


def driver_loans_receivable(driver: Driver) -> Account:
    return ledger.open_party_account(party=driver_party(driver), category=Category.LOANS, name=driver.full_name)


def driver_penalty_receivable(driver: Driver) -> Account:
    """The driver's PENALTY receivable: late fees (the nightly job opens them in bulk)."""
    return ledger.open_party_account(party=driver_party(driver), category=Category.PENALTY, name=driver.full_name)
