"""The dashboard's figures as the refresh job last computed them.

At a million rows the dashboard's aggregates take over a second (the portfolio joins every posted
installment to its open item), too long for a page. So no page computes them: the beat job
`refresh-dashboard` computes every section once a minute and stores it here, and a page reads
these rows (one query), with the time they were computed.

Invariants:
- One row per section (`dashboard_section_known_name`): a refresh replaces a section's figures
  in one statement, so a page reads a whole section, old or new, never half of each.
- `figures` is what the page shows, as JSON: charts as plain objects, money as decimal strings
  (DjangoJSONEncoder), exactly what the page's chart script receives.
"""

from __future__ import annotations

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models


class Section(models.TextChoices):
    APPLICATIONS = "applications", "Applications"
    LOANS = "loans", "Loans"
    LEDGER = "ledger", "Ledger"


class DashboardSection(models.Model):
    name = models.CharField(max_length=20, primary_key=True, choices=Section.choices)
    figures = models.JSONField(encoder=DjangoJSONEncoder)
    computed_for = models.DateField(help_text="The day the figures end on (e.g. the last 30 days up to it).")
    computed_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(name__in=Section.values), name="dashboard_section_known_name")
        ]

    def __str__(self) -> str:
        return f"{self.name} as of {self.computed_at:%Y-%m-%d %H:%M}"
