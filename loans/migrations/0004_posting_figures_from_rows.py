"""A posting run's figures are read from rows: the counters of runs and chunks (and their CHECK
constraints) go; the installments a run could not post become rows of PostingFailure, carried over
from the chunks' failed_ids / locked_ids with the run's stored error messages."""

import django.db.models.deletion
from django.db import migrations, models


CARRY_OVER_FAILURES = """
INSERT INTO loans_postingfailure (run_id, installment_id, locked, message)
SELECT c.run_id, f.id::bigint, false,
       coalesce((SELECT left(e->>'error', 500) FROM jsonb_array_elements(r.errors) e
                  WHERE e->>'installment_id' = f.id LIMIT 1), '')
  FROM loans_postingrunchunk c
  JOIN loans_installmentpostingrun r ON r.id = c.run_id
 CROSS JOIN jsonb_array_elements_text(c.failed_ids) f(id)
UNION ALL
SELECT c.run_id, l.id::bigint, true, ''
  FROM loans_postingrunchunk c CROSS JOIN jsonb_array_elements_text(c.locked_ids) l(id)
ON CONFLICT (run_id, installment_id) DO NOTHING
"""


class Migration(migrations.Migration):

    dependencies = [
        ('ledger', '0004_trigger_functions_pin_search_path'),
        ('loans', '0003_posting_run_plan_and_recovery'),
    ]

    operations = [
        migrations.CreateModel(
            name='PostingFailure',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('locked', models.BooleanField(default=False)),
                ('message', models.CharField(blank=True, max_length=500)),
            ],
            options={
                'ordering': ['run_id', 'installment_id'],
            },
        ),
        migrations.AddField(
            model_name='postingfailure',
            name='installment',
            field=models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='loans.installment'),
        ),
        migrations.AddField(
            model_name='postingfailure',
            name='run',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='failures', to='loans.installmentpostingrun'),
        ),
        migrations.AddConstraint(
            model_name='postingfailure',
            constraint=models.UniqueConstraint(fields=('run', 'installment'), name='posting_failure_once_per_run'),
        ),
        migrations.RunSQL(CARRY_OVER_FAILURES, migrations.RunSQL.noop),
        migrations.RemoveConstraint(
            model_name='installmentpostingrun',
            name='posting_run_chunks_done_within_total',
        ),
        migrations.RemoveConstraint(
            model_name='installmentpostingrun',
            name='posting_run_counts_add_up',
        ),
        migrations.RemoveConstraint(
            model_name='postingrunchunk',
            name='posting_run_chunk_counts_add_up',
        ),
        migrations.RemoveField(
            model_name='installmentpostingrun',
            name='chunks_done',
        ),
        migrations.RemoveField(
            model_name='installmentpostingrun',
            name='errors',
        ),
        migrations.RemoveField(
            model_name='installmentpostingrun',
            name='failed',
        ),
        migrations.RemoveField(
            model_name='installmentpostingrun',
            name='locked',
        ),
        migrations.RemoveField(
            model_name='installmentpostingrun',
            name='posted',
        ),
        migrations.RemoveField(
            model_name='installmentpostingrun',
            name='processed',
        ),
        migrations.RemoveField(
            model_name='installmentpostingrun',
            name='skipped',
        ),
        migrations.RemoveField(
            model_name='installmentpostingrun',
            name='total_amount',
        ),
        migrations.RemoveField(
            model_name='postingrunchunk',
            name='failed',
        ),
        migrations.RemoveField(
            model_name='postingrunchunk',
            name='failed_ids',
        ),
        migrations.RemoveField(
            model_name='postingrunchunk',
            name='locked',
        ),
        migrations.RemoveField(
            model_name='postingrunchunk',
            name='locked_ids',
        ),
        migrations.RemoveField(
            model_name='postingrunchunk',
            name='posted',
        ),
        migrations.RemoveField(
            model_name='postingrunchunk',
            name='processed',
        ),
        migrations.RemoveField(
            model_name='postingrunchunk',
            name='skipped',
        ),
        migrations.RemoveField(
            model_name='postingrunchunk',
            name='total_amount',
        ),
        migrations.AddIndex(
            model_name='installment',
            index=models.Index(condition=models.Q(('posting_run__isnull', False)), fields=['posting_run'], include=('amount',), name='installment_posting_run_idx'),
        ),
    ]
