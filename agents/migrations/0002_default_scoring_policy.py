"""A first active scoring policy, so a fresh install scores applications out of the box."""

from decimal import Decimal

from django.db import migrations

DEFAULT_POLICY = {
    "version": 1,
    "name": "Default policy",
    "notes": "Created with the database; publish a new version in the admin to change it.",
    "is_active": True,
    "reject_below_credit_score": 550,
    "pre_approve_from_credit_score": 680,
    "max_back_end_dti": Decimal("50.00"),
    "pre_approve_max_back_end_dti": Decimal("36.00"),
    "reject_above_risk_score": Decimal("75.00"),
    "pre_approve_max_risk_score": Decimal("40.00"),
    "max_amount": Decimal("100000.00"),
    "pre_approve_max_amount": Decimal("25000.00"),
    "min_annual_income": Decimal("12000.00"),
    "income_tolerance_percent": Decimal("20.00"),
    "rate_low": Decimal("7.50"),
    "rate_medium": Decimal("11.00"),
    "rate_high": Decimal("16.00"),
    "rate_very_high": Decimal("22.00"),
}


def create_default_policy(apps, schema_editor):
    ScoringPolicy = apps.get_model("agents", "ScoringPolicy")
    if not ScoringPolicy.objects.exists():
        ScoringPolicy.objects.create(**DEFAULT_POLICY)


def remove_default_policy(apps, schema_editor):
    apps.get_model("agents", "ScoringPolicy").objects.filter(version=1, runs__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("agents", "0001_initial")]

    operations = [migrations.RunPython(create_default_policy, remove_default_policy)]
