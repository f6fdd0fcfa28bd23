import django.db.models.deletion
import loanproject.core.money
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("ledger", "0006_penalty_category_and_waived_items"),
        ("loans", "0016_makerchecker"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="LoanPrepayment",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "idempotency_key",
                    models.CharField(help_text="The caller's id for the payment, per loan.", max_length=200),
                ),
                (
                    "mode",
                    models.CharField(
                        choices=[
                            ("reduce_term", "Reduce the term (same installment, fewer of them)"),
                            ("reduce_installment", "Reduce the installment (same count, smaller)"),
                        ],
                        max_length=20,
                    ),
                ),
                (
                    "received",
                    loanproject.core.money.MoneyField(
                        decimal_places=2, help_text="The whole payment: what was due is paid first.", max_digits=14
                    ),
                ),
                (
                    "amount",
                    loanproject.core.money.MoneyField(
                        decimal_places=2, help_text="The principal prepaid.", max_digits=14
                    ),
                ),
                ("received_on", models.DateField()),
                ("reference", models.CharField(blank=True, max_length=100)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
            ],
            options={"ordering": ["-id"]},
        ),
        migrations.CreateModel(
            name="ScheduleVersion",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("number", models.PositiveIntegerField()),
                (
                    "kind",
                    models.CharField(
                        choices=[
                            ("booked", "Booked"),
                            ("prepayment_reduce_term", "Prepayment, shorter term"),
                            ("prepayment_reduce_installment", "Prepayment, smaller installment"),
                            ("holiday_capitalised", "Payment holiday, interest capitalised"),
                            ("holiday_waived", "Payment holiday, interest waived"),
                            ("extension", "Term extension"),
                            ("rate_change", "Rate change"),
                        ],
                        max_length=32,
                    ),
                ),
                (
                    "from_sequence",
                    models.PositiveSmallIntegerField(help_text="The first installment this version schedules."),
                ),
                (
                    "balance",
                    loanproject.core.money.MoneyField(
                        decimal_places=2,
                        help_text="The principal this version spreads over its installments.",
                        max_digits=14,
                    ),
                ),
                (
                    "annual_interest_rate",
                    models.DecimalField(decimal_places=3, help_text="Percent a year, 0-20.", max_digits=6),
                ),
                (
                    "installment_count",
                    models.PositiveSmallIntegerField(help_text="Installments this version schedules."),
                ),
                (
                    "periods",
                    models.PositiveSmallIntegerField(
                        default=0, help_text="Periods skipped (holiday) or added (extension)."
                    ),
                ),
                ("capitalised_interest", loanproject.core.money.MoneyField(decimal_places=2, default=0, max_digits=14)),
                ("reason", models.CharField(blank=True, max_length=500)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
            ],
            options={
                "ordering": ["loan_id", "number"],
                "permissions": [("restructure_loan", "Can restructure a loan (holiday, extension, rate change)")],
            },
        ),
        migrations.AddField(
            model_name="loanprepayment",
            name="created_by",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT, related_name="+", to=settings.AUTH_USER_MODEL
            ),
        ),
        migrations.AddField(
            model_name="loanprepayment",
            name="entry",
            field=models.OneToOneField(
                on_delete=django.db.models.deletion.PROTECT, related_name="+", to="ledger.journalentry"
            ),
        ),
        migrations.AddField(
            model_name="loanprepayment",
            name="loan",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT, related_name="prepayments", to="loans.driverloan"
            ),
        ),
        migrations.AddField(
            model_name="loanprepayment",
            name="payment_entry",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT, related_name="+", to="ledger.journalentry"
            ),
        ),
        migrations.AddField(
            model_name="scheduleversion",
            name="capitalisation_entry",
            field=models.OneToOneField(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="ledger.journalentry",
            ),
        ),
        migrations.AddField(
            model_name="scheduleversion",
            name="created_by",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT, related_name="+", to=settings.AUTH_USER_MODEL
            ),
        ),
        migrations.AddField(
            model_name="scheduleversion",
            name="loan",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="schedule_versions",
                to="loans.driverloan",
            ),
        ),
        migrations.AddField(
            model_name="loanprepayment",
            name="schedule_version",
            field=models.OneToOneField(
                on_delete=django.db.models.deletion.PROTECT, related_name="prepayment", to="loans.scheduleversion"
            ),
        ),
        migrations.AddField(
            model_name="installment",
            name="schedule_version",
            field=models.ForeignKey(
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="installments",
                to="loans.scheduleversion",
            ),
        ),
        # Version 1 of every loan is its booked schedule; set-based (a million installments).
        migrations.RunSQL(
            sql=[
                """
                INSERT INTO loans_scheduleversion (loan_id, number, kind, from_sequence, balance, annual_interest_rate,
                                                   installment_count, periods, capitalised_interest, reason,
                                                   created_by_id, created_at)
                SELECT id, 1, 'booked', 1, principal, annual_interest_rate, installment_count, 0, 0, '', created_by_id,
                       created_at
                  FROM loans_driverloan
                """,
                """
                UPDATE loans_installment i SET schedule_version_id = v.id
                  FROM loans_scheduleversion v WHERE v.loan_id = i.loan_id AND v.number = 1
                """,
                # The ALTER below may not run while deferred foreign-key checks of these rows are pending.
                "SET CONSTRAINTS ALL IMMEDIATE",
            ],
            reverse_sql=[
                "UPDATE loans_installment SET schedule_version_id = NULL",
                "DELETE FROM loans_scheduleversion",
                # Reversible only before any schedule changed (a cancelled twin of a sequence
                # would break the old unique pair); the ALTERs of the reversal need the checks done.
                "SET CONSTRAINTS ALL IMMEDIATE",
            ],
        ),
        migrations.AlterField(
            model_name="installment",
            name="schedule_version",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="installments",
                to="loans.scheduleversion",
            ),
        ),
        migrations.AddIndex(
            model_name="installment",
            index=models.Index(fields=["loan", "sequence"], name="installment_loan_sequence_idx"),
        ),
        # The index first: the loan's installments stay indexed while the unique pair is replaced.
        migrations.RemoveConstraint(model_name="installment", name="installment_sequence_unique_per_loan"),
        migrations.AddConstraint(
            model_name="installment",
            constraint=models.UniqueConstraint(
                condition=models.Q(("status", "cancelled"), _negated=True),
                fields=("loan", "sequence"),
                name="installment_sequence_unique_per_loan",
            ),
        ),
        migrations.AddConstraint(
            model_name="installment",
            constraint=models.UniqueConstraint(
                fields=("schedule_version", "sequence"), name="installment_sequence_unique_per_version"
            ),
        ),
        migrations.AddConstraint(
            model_name="scheduleversion",
            constraint=models.UniqueConstraint(fields=("loan", "number"), name="schedule_version_number_unique"),
        ),
        migrations.AddConstraint(
            model_name="scheduleversion",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    (
                        "kind__in",
                        [
                            "booked",
                            "prepayment_reduce_term",
                            "prepayment_reduce_installment",
                            "holiday_capitalised",
                            "holiday_waived",
                            "extension",
                            "rate_change",
                        ],
                    )
                ),
                name="schedule_version_kind_known",
            ),
        ),
        migrations.AddConstraint(
            model_name="scheduleversion",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("kind", "booked"), ("number", 1)),
                    models.Q(("number__gt", 1), models.Q(("kind", "booked"), _negated=True)),
                    _connector="OR",
                ),
                name="schedule_version_booked_iff_first",
            ),
        ),
        migrations.AddConstraint(
            model_name="scheduleversion",
            constraint=models.CheckConstraint(
                condition=models.Q(("balance__gte", 0), ("from_sequence__gte", 1)),
                name="schedule_version_from_and_balance",
            ),
        ),
        migrations.AddConstraint(
            model_name="scheduleversion",
            constraint=models.CheckConstraint(
                condition=models.Q(("annual_interest_rate__gte", 0), ("annual_interest_rate__lte", 20)),
                name="schedule_version_rate_0_20",
            ),
        ),
        migrations.AddConstraint(
            model_name="scheduleversion",
            constraint=models.CheckConstraint(
                condition=models.Q(("installment_count__lte", 520)), name="schedule_version_count_0_520"
            ),
        ),
        migrations.AddConstraint(
            model_name="scheduleversion",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(
                        ("capitalisation_entry__isnull", False),
                        ("capitalised_interest__gt", 0),
                        ("kind", "holiday_capitalised"),
                    ),
                    models.Q(
                        models.Q(("kind", "holiday_capitalised"), _negated=True),
                        ("capitalisation_entry__isnull", True),
                        ("capitalised_interest", 0),
                    ),
                    _connector="OR",
                ),
                name="schedule_version_capitalised_iff_entry",
            ),
        ),
        migrations.AddConstraint(
            model_name="loanprepayment",
            constraint=models.UniqueConstraint(fields=("loan", "idempotency_key"), name="loan_prepayment_key_unique"),
        ),
        migrations.AddConstraint(
            model_name="loanprepayment",
            constraint=models.CheckConstraint(
                condition=models.Q(("amount__gt", 0)), name="loan_prepayment_amount_positive"
            ),
        ),
        migrations.AddConstraint(
            model_name="loanprepayment",
            constraint=models.CheckConstraint(
                condition=models.Q(("received__gte", models.F("amount"))), name="loan_prepayment_within_received"
            ),
        ),
        migrations.AddConstraint(
            model_name="loanprepayment",
            constraint=models.CheckConstraint(
                condition=models.Q(("mode__in", ["reduce_term", "reduce_installment"])),
                name="loan_prepayment_mode_known",
            ),
        ),
    ]
