# Indexes that composite ones cover cost an insert each for every scored application (seven for
# agent results); successful agent results, nearly all rows, leave the agent index too.
# The foreign keys' own indexes are dropped with plain SQL: AlterField would drop and re-add each
# foreign key, and re-adding one validates every row of a large table under lock.

import django.db.models.deletion
from django.db import migrations, models

COVERED_INDEXES = [
    # (index, table, column): each covered by a composite index that leads with the column
    ("agents_agentresult_run_id_ffab9e45", "agents_agentresult", "run_id"),
    ("agents_applicationanalytics_application_id_2a099aba", "agents_applicationanalytics", "application_id"),
    ("agents_scoringrun_application_id_927af322", "agents_scoringrun", "application_id"),
]


class Migration(migrations.Migration):

    dependencies = [
        ('agents', '0004_scoring_run_trigger_and_outcome_checked'),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='agentresult',
            name='agent_result_agent_idx',
        ),
        migrations.AddIndex(
            model_name='agentresult',
            index=models.Index(condition=models.Q(('status', 'success'), _negated=True), fields=['agent_name', 'status'], name='agent_result_problem_idx'),
        ),
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    sql=f'DROP INDEX IF EXISTS "{index}"',
                    reverse_sql=f'CREATE INDEX IF NOT EXISTS "{index}" ON "{table}" ("{column}")',
                )
                for index, table, column in COVERED_INDEXES
            ],
            state_operations=[
                migrations.AlterField(
                    model_name='agentresult',
                    name='run',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='agent_results', to='agents.scoringrun'),
                ),
                migrations.AlterField(
                    model_name='applicationanalytics',
                    name='application',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='analytics', to='applications.loanapplication'),
                ),
                migrations.AlterField(
                    model_name='scoringrun',
                    name='application',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='scoring_runs', to='applications.loanapplication'),
                ),
            ],
        ),
    ]
