"""The installment amount CHECK compares principal + interest as they are: numeric addition is exact, no rounding."""

import django.db.models.expressions
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('ledger', '0004_trigger_functions_pin_search_path'),
        ('loans', '0004_posting_figures_from_rows'),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name='installment',
            name='installment_amount_is_principal_plus_interest',
        ),
        migrations.AddConstraint(
            model_name='installment',
            constraint=models.CheckConstraint(condition=models.Q(('amount', django.db.models.expressions.CombinedExpression(models.F('principal'), '+', models.F('interest')))), name='installment_amount_is_principal_plus_interest'),
        ),
    ]
