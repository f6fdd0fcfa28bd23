"""The seeded servicing simulation (loans/tests/simulation.py), bounded for CI: a fixed seed, a
few dozen sequences; `benchmarks/servicing_simulation.py` runs thousands."""

from __future__ import annotations

import pytest

from loans.tests.simulation import Simulation

SEED = 20261203


@pytest.mark.django_db
def test_random_servicing_sequences_with_crashes_and_redeliveries_keep_the_book_and_the_model_equal():
    stats = Simulation(seed=SEED).run(sequences=20, steps=15)

    # Every kind of step ran, and the faults were injected: the run proves something.
    assert stats["sequences"] == 20 and stats["steps"] == 300
    for step in (
        "book",
        "post_week",
        "post_past_week",
        "take_payment",
        "charge_late_fees",
        "waive_fee",
        "pay_off",
        "prepay",
        "restructure",
        "write_off",
        "recover",
        "reverse_payment",
        "reverse_posting",
    ):
        assert stats[step] > 0, step
    assert stats["crashes"] > 10 and stats["redeliveries"] > 25 and stats["refusals"] > 0
