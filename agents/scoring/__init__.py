"""The scoring agents and the pipeline that runs them.

Agents are pure: `gather` picks the inputs an agent needs from the applicant's facts, the policy
and earlier agents' outputs; `decide` turns those inputs into an output. Both are recorded, so a
result can be explained and replayed. No agent touches the database: the fact loader reads
everything for a whole batch in a few set-based queries first.
"""
