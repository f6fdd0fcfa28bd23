"""Staff roles (groups); `manage.py setup_roles` and every migrate keep them in sync.

Each entry is "app_label.codename"; "app_label.view_*" and "*.view_*" expand to every match."""

STAFF_ROLES: dict[str, list[str]] = {
    "Loan officer": [
        "applications.view_partner",
        "applications.view_customer",
        "applications.view_loanapplication",
        "applications.change_loanapplication",
        "applications.review_loanapplication",
        "applications.rescore_loanapplication",
        "applications.view_reviewdecision",
        "applications.view_notification",
        "agents.view_*",
        "finance.view_*",
    ],
    "Loan manager": [
        "applications.view_partner",
        "applications.view_customer",
        "applications.view_loanapplication",
        "applications.change_loanapplication",
        "applications.review_loanapplication",
        "applications.rescore_loanapplication",
        "applications.view_reviewdecision",
        # Their team's workload (capacity, switching a reviewer off); never limits, roles or
        # managers: those are the Credit administrator's, who decides no application.
        "applications.view_reviewer",
        "applications.change_reviewer",
        "applications.view_notification",
        "applications.change_notification",
        "agents.view_*",
        "agents.add_scoringpolicy",
        "agents.change_scoringpolicy",
        "auditlog.view_logentry",
        "finance.view_*",
        "loans.view_*",
        "loans.export_loans",
    ],
    # Sets who may approve what: registers reviewers, their approval limits, roles and managers.
    # Decides no application (no review_loanapplication), so no one holds both by their role.
    "Credit administrator": [
        "applications.view_reviewer",
        "applications.add_reviewer",
        "applications.change_reviewer",
        "applications.manage_reviewer_authority",
        "applications.view_reviewdecision",
        # Maker-checker: the amounts below which one person may act alone.
        "core.view_approvalthreshold",
        "core.add_approvalthreshold",
        "core.change_approvalthreshold",
        "auth.view_user",
        "auditlog.view_logentry",
    ],
    "Finance": [
        "applications.view_partner",
        "applications.view_customer",
        "applications.view_loanapplication",
        "finance.view_*",
        "finance.add_transactionimport",
        "finance.change_bankconnection",
        "finance.change_account",
        "finance.add_networthsnapshot",
        # Driver loans: create, view, update, post installments, export; record payments, reverse.
        "loans.add_driver",
        "loans.change_driver",
        "loans.add_lease",
        "loans.change_lease",
        "loans.add_driverloan",
        "loans.change_driverloan",
        # Loan products: adding or changing one publishes a new version.
        "loans.add_loanproduct",
        "loans.change_loanproduct",
        "loans.view_*",
        "loans.post_installments",
        "loans.export_loans",
        # The delinquency classes (ranges of days past due).
        "loans.add_delinquencyclass",
        "loans.change_delinquencyclass",
        # The driver's charges: import toll, parking and TLC files, resolve the unmatched queue,
        # add MISC charges and credits.
        "loans.import_charges",
        "loans.change_importedcharge",
        "loans.add_driveradjustment",
        # Collections: assigns delinquent drivers to collectors; takes notes and promises too.
        "loans.change_collectioncase",
        "loans.assign_collector",
        "loans.add_collectionnote",
        "loans.add_promisetopay",
        # Late fees: ask for a waiver and approve someone else's (maker-checker).
        "loans.waive_late_fee",
        # Schedule changes: prepayments are payments (ledger.record_payment); restructurings
        # (holiday, extension, rate change) are asked for and approved by someone else.
        "loans.restructure_loan",
        # Write-offs: ask for one and approve someone else's (maker-checker); record recoveries.
        "loans.write_off_loan",
        "ledger.view_*",
        "ledger.record_payment",
        "ledger.reverse_entry",
        # Manual journal entries and posting a past week again: asked and approved (maker-checker).
        "ledger.post_manual_entry",
        "loans.post_past_week",
        # Maker-checker: Finance asks for and approves each other's reversals (never their own).
        "core.view_approvalrequest",
        "django_celery_beat.view_periodictask",
    ],
    # Works the delinquent drivers assigned to them: reads drivers, loans and their open items,
    # appends notes and records promises to pay; assigns nobody (Finance does), changes no money.
    "Collector": [
        "loans.view_driver",
        "loans.view_lease",
        "loans.view_driverloan",
        "loans.view_installment",
        "loans.view_loandelinquency",
        "loans.view_loandelinquencychange",
        "loans.view_delinquencyclass",
        "loans.view_collectioncase",
        "loans.change_collectioncase",
        "loans.work_collection_cases",
        "loans.view_collectionnote",
        "loans.add_collectionnote",
        "loans.view_promisetopay",
        "loans.add_promisetopay",
        "ledger.view_openitem",
    ],
    "Auditor": ["*.view_*"],
}
