"""Rounding rules, principal grace: schedules checked against figures computed independently.

Where each expected figure comes from:
- "published": figures printed in a public project's own tests or in the standard textbook
  example, quoted as they are printed there;
- "by hand": worked with exact fractions outside this code base (the annuity formula
  P r / (1 - (1 + r)^-n) with r = annual rate / periods a year; each period's interest =
  balance * r rounded half-even to the currency's digits; principal = installment - interest;
  the last installment takes the balance), the same steps one does with a pencil and a table.
"""

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from loanproject.core.errors import DomainError
from loans.schedules import DEFAULT_ROUNDING, Frequency, Method, RoundingRules, build_schedule

SUNDAY = date(2026, 1, 4)
D = Decimal


def table(schedule):
    return [(str(i.principal), str(i.interest), str(i.amount), str(i.balance_after)) for i in schedule]


def totals(schedule):
    return str(sum(i.principal for i in schedule)), str(sum(i.interest for i in schedule))


def test_monthly_annuity_the_textbook_10000_at_12_percent_over_12_months():
    """Published: the classic amortization table (10,000 at 12 %/year = 1 %/month, 12 months):
    payment 888.49, first row interest 100.00 / principal 788.49 / balance 9,211.51; the
    remaining rows worked by hand; the last payment 888.47 absorbs the rounding."""
    schedule = build_schedule(
        principal=D("10000.00"),
        annual_rate_percent=D("12"),
        installment_count=12,
        start=SUNDAY,
        frequency=Frequency.MONTHLY,
    )

    assert table(schedule) == [
        ("788.49", "100.00", "888.49", "9211.51"),
        ("796.37", "92.12", "888.49", "8415.14"),
        ("804.34", "84.15", "888.49", "7610.80"),
        ("812.38", "76.11", "888.49", "6798.42"),
        ("820.51", "67.98", "888.49", "5977.91"),
        ("828.71", "59.78", "888.49", "5149.20"),
        ("837.00", "51.49", "888.49", "4312.20"),
        ("845.37", "43.12", "888.49", "3466.83"),
        ("853.82", "34.67", "888.49", "2613.01"),
        ("862.36", "26.13", "888.49", "1750.65"),
        ("870.98", "17.51", "888.49", "879.67"),
        ("879.67", "8.80", "888.47", "0.00"),
    ]
    assert totals(schedule) == ("10000.00", "661.86")


def test_the_default_rules_are_the_rules_of_every_loan_before_products():
    assert (
        RoundingRules(currency_digits=2, in_multiples_of=0, installment_ceiling=False, flat_interest_last_absorbs=False)
        == DEFAULT_ROUNDING
    )
    terms = {"principal": D("1500.00"), "annual_rate_percent": D("10"), "installment_count": 10, "start": SUNDAY}

    assert build_schedule(**terms) == build_schedule(**terms, rounding=RoundingRules(), principal_grace_periods=0)


def test_weekly_annuity_in_multiples_of_5():
    """By hand: 1,000.00 at 10 %/year weekly (r = 0.1/52), 10 weeks: the exact installment is
    101.0607..., to the nearest multiple of 5 (Fineract's installmentAmountInMultiplesOf = 5):
    100.00. Interest week 1 = 1000 * 0.1 / 52 = 1.923 -> 1.92, principal 98.08; ... the last
    week takes the 110.50 left plus 0.21 interest."""
    schedule = build_schedule(
        principal=D("1000.00"),
        annual_rate_percent=D("10"),
        installment_count=10,
        start=SUNDAY,
        rounding=RoundingRules(in_multiples_of=5),
    )

    assert table(schedule) == [
        ("98.08", "1.92", "100.00", "901.92"),
        ("98.27", "1.73", "100.00", "803.65"),
        ("98.45", "1.55", "100.00", "705.20"),
        ("98.64", "1.36", "100.00", "606.56"),
        ("98.83", "1.17", "100.00", "507.73"),
        ("99.02", "0.98", "100.00", "408.71"),
        ("99.21", "0.79", "100.00", "309.50"),
        ("99.40", "0.60", "100.00", "210.10"),
        ("99.60", "0.40", "100.00", "110.50"),
        ("110.50", "0.21", "110.71", "0.00"),
    ]
    assert totals(schedule) == ("1000.00", "10.71")


def test_biweekly_annuity_in_multiples_of_1():
    """By hand: 2,600.00 at 8 %/year bi-weekly (r = 0.08/26), 6 periods: exact installment
    438.0119..., to the nearest multiple of 1: 438.00; interest period 1 = 2600 * 0.08 / 26 =
    8.00; the last period 436.73 + 1.34."""
    schedule = build_schedule(
        principal=D("2600.00"),
        annual_rate_percent=D("8"),
        installment_count=6,
        start=SUNDAY,
        frequency=Frequency.BIWEEKLY,
        rounding=RoundingRules(in_multiples_of=1),
    )

    assert table(schedule) == [
        ("430.00", "8.00", "438.00", "2170.00"),
        ("431.32", "6.68", "438.00", "1738.68"),
        ("432.65", "5.35", "438.00", "1306.03"),
        ("433.98", "4.02", "438.00", "872.05"),
        ("435.32", "2.68", "438.00", "436.73"),
        ("436.73", "1.34", "438.07", "0.00"),
    ]
    assert [i.due_date for i in schedule][:3] == [SUNDAY, date(2026, 1, 18), date(2026, 2, 1)]


WHOLE_UNITS_CEILING = RoundingRules(currency_digits=0, installment_ceiling=True)


@pytest.mark.parametrize("months, repayment, total_interest", [(18, "14923", "18599"), (24, "11445", "24657")])
def test_whole_units_with_ceiling_matches_frappe_lendings_published_figures(months, repayment, total_interest):
    """Published: Frappe Lending's own test of the loan application (test_loan_application.py,
    test_loan_totals): 250,000 at 9.2 % over 18 months -> repayment_amount 14923,
    total_payable_interest 18599, total_payable_amount 268599; over 24 months -> 11445, 24657,
    274657. Frappe rounds the monthly repayment up (math.ceil) and each month's interest to whole
    units, the last repayment taking what is left: the same rules as here."""
    schedule = build_schedule(
        principal=D("250000"),
        annual_rate_percent=D("9.2"),
        installment_count=months,
        start=SUNDAY,
        frequency=Frequency.MONTHLY,
        rounding=WHOLE_UNITS_CEILING,
    )

    assert {str(i.amount) for i in schedule[:-1]} == {repayment}
    assert totals(schedule) == ("250000", total_interest)
    assert str(sum(i.amount for i in schedule)) == str(250000 + int(total_interest))
    assert all(i.interest == i.interest.to_integral_value() for i in schedule)


def test_whole_units_with_ceiling_a_full_table():
    """By hand: 100,000 at 12 % over 12 months: exact 8,884.8789 -> up to 8,885; interest month 1
    = 1,000, then balance * 1 % rounded half-even to whole units; the last is 8,796 + 88."""
    schedule = build_schedule(
        principal=D("100000"),
        annual_rate_percent=D("12"),
        installment_count=12,
        start=SUNDAY,
        frequency=Frequency.MONTHLY,
        rounding=WHOLE_UNITS_CEILING,
    )

    assert [(str(i.principal), str(i.interest)) for i in schedule] == [
        ("7885", "1000"),
        ("7964", "921"),
        ("8043", "842"),
        ("8124", "761"),
        ("8205", "680"),
        ("8287", "598"),
        ("8370", "515"),
        ("8454", "431"),
        ("8538", "347"),
        ("8624", "261"),
        ("8710", "175"),
        ("8796", "88"),
    ]
    assert totals(schedule) == ("100000", "6619")


def test_whole_units_refuse_cents():
    with pytest.raises(DomainError) as refused:
        build_schedule(
            principal=D("1000.50"),
            annual_rate_percent=D("5"),
            installment_count=4,
            start=SUNDAY,
            rounding=WHOLE_UNITS_CEILING,
        )

    assert refused.value.fields == {"principal": ["A whole amount: this currency has no cents."]}


def test_biweekly_equal_principal():
    """By hand: 2,600.00 at 8 % bi-weekly, 4 periods: 650.00 each; interest = balance * 0.08/26:
    8.00, 6.00, 4.00, 2.00."""
    schedule = build_schedule(
        principal=D("2600.00"),
        annual_rate_percent=D("8"),
        installment_count=4,
        start=SUNDAY,
        frequency=Frequency.BIWEEKLY,
        method=Method.EQUAL_PRINCIPAL,
    )

    assert table(schedule) == [
        ("650.00", "8.00", "658.00", "1950.00"),
        ("650.00", "6.00", "656.00", "1300.00"),
        ("650.00", "4.00", "654.00", "650.00"),
        ("650.00", "2.00", "652.00", "0.00"),
    ]


def test_monthly_flat_fineract_convention_last_absorbs():
    """By hand (Fineract's flat convention): 1,000.00 at 10 % flat over 3 months: total interest
    1000 * 0.10 * 3/12 = 25.00; 25.00 / 3 = 8.33 each, the last 25.00 - 16.66 = 8.34. The even
    split of the default rules gives the odd cent to the first: 8.34, 8.33, 8.33."""
    terms = {
        "principal": D("1000.00"),
        "annual_rate_percent": D("10"),
        "installment_count": 3,
        "start": SUNDAY,
        "frequency": Frequency.MONTHLY,
        "method": Method.FLAT,
    }

    fineract = build_schedule(**terms, rounding=RoundingRules(flat_interest_last_absorbs=True))
    default = build_schedule(**terms)

    assert table(fineract) == [
        ("333.33", "8.33", "341.66", "666.67"),
        ("333.33", "8.33", "341.66", "333.34"),
        ("333.34", "8.34", "341.68", "0.00"),
    ]
    assert [str(i.interest) for i in default] == ["8.34", "8.33", "8.33"]


def test_weekly_flat_last_absorbs():
    """By hand: 5,000.00 at 12 % flat over 7 weeks: total 5000 * 0.12 * 7/52 = 80.769 -> 80.77;
    80.77 / 7 = 11.538 -> 11.54 six times, the last 80.77 - 69.24 = 11.53; principal 5000/7 =
    714.29 six times, the last 714.26."""
    schedule = build_schedule(
        principal=D("5000.00"),
        annual_rate_percent=D("12"),
        installment_count=7,
        start=SUNDAY,
        method=Method.FLAT,
        rounding=RoundingRules(flat_interest_last_absorbs=True),
    )

    assert [(str(i.principal), str(i.interest)) for i in schedule] == [("714.29", "11.54")] * 6 + [("714.26", "11.53")]


def test_flat_last_absorbs_falls_back_to_the_even_split_where_the_last_would_be_negative():
    """By hand: 10.00 at 3 % flat over 7 weeks: total 10 * 0.03 * 7/52 = 0.0404 -> 0.04; 0.04/7 =
    0.0057 -> 0.01, and six of them (0.06) would leave -0.02 for the last: the even split gives
    one cent to each of the first four."""
    schedule = build_schedule(
        principal=D("10.00"),
        annual_rate_percent=D("3"),
        installment_count=7,
        start=SUNDAY,
        method=Method.FLAT,
        rounding=RoundingRules(flat_interest_last_absorbs=True),
    )

    assert [str(i.interest) for i in schedule] == ["0.01"] * 4 + ["0.00"] * 3
    assert [str(i.principal) for i in schedule] == ["1.43"] * 6 + ["1.42"]


def test_monthly_flat_in_whole_units():
    """By hand: 10,000 at 8 % flat over 7 months in whole units: total 10000 * 0.08 * 7/12 =
    466.67 -> 467; Fineract: 467/7 = 66.71 -> 67 six times, the last 65; the even split: 67 five
    times, then 66, 66. Principal 10000/7 = 1428.57 -> 1429 six times, the last 1426."""
    terms = {
        "principal": D("10000"),
        "annual_rate_percent": D("8"),
        "installment_count": 7,
        "start": SUNDAY,
        "frequency": Frequency.MONTHLY,
        "method": Method.FLAT,
    }

    fineract = build_schedule(**terms, rounding=RoundingRules(currency_digits=0, flat_interest_last_absorbs=True))
    even = build_schedule(**terms, rounding=RoundingRules(currency_digits=0))

    assert [str(i.interest) for i in fineract] == ["67"] * 6 + ["65"]
    assert [str(i.interest) for i in even] == ["67"] * 5 + ["66"] * 2
    assert [str(i.principal) for i in even] == ["1429"] * 6 + ["1426"]


def test_principal_grace_pays_interest_only_then_amortizes_over_the_rest():
    """By hand: 1,200.00 at 12 % monthly, 4 installments, 2 of principal grace: 12.00 interest
    only twice; then the annuity of 1,200 over 2 months at 1 %: 1200 * 0.01 / (1 - 1.01^-2) =
    609.0149 -> 609.01: 12.00 + 597.01, then 6.03 + 602.99."""
    schedule = build_schedule(
        principal=D("1200.00"),
        annual_rate_percent=D("12"),
        installment_count=4,
        start=SUNDAY,
        frequency=Frequency.MONTHLY,
        principal_grace_periods=2,
    )

    assert table(schedule) == [
        ("0.00", "12.00", "12.00", "1200.00"),
        ("0.00", "12.00", "12.00", "1200.00"),
        ("597.01", "12.00", "609.01", "602.99"),
        ("602.99", "6.03", "609.02", "0.00"),
    ]


def test_grace_on_equal_principal_and_flat():
    """By hand: 900.00 at 10.4 % weekly (0.2 %/week), 5 installments, 2 of grace. Equal principal:
    interest 1.80 twice, then 300.00 + 1.80, + 1.20, + 0.60. Flat: total 900 * 0.104 * 5/52 =
    9.00, 1.80 a week; principal 300.00 from week 3."""
    terms = {
        "principal": D("900.00"),
        "annual_rate_percent": D("10.4"),
        "installment_count": 5,
        "start": SUNDAY,
        "principal_grace_periods": 2,
    }

    equal = build_schedule(**terms, method=Method.EQUAL_PRINCIPAL)
    flat = build_schedule(**terms, method=Method.FLAT)

    assert [(str(i.principal), str(i.interest)) for i in equal] == [
        ("0.00", "1.80"),
        ("0.00", "1.80"),
        ("300.00", "1.80"),
        ("300.00", "1.20"),
        ("300.00", "0.60"),
    ]
    assert [(str(i.principal), str(i.interest)) for i in flat] == [("0.00", "1.80")] * 2 + [("300.00", "1.80")] * 3


@pytest.mark.parametrize(
    "terms, field",
    [
        ({"principal_grace_periods": 4}, "principal_grace_periods"),
        ({"principal_grace_periods": -1}, "principal_grace_periods"),
        ({"principal_grace_periods": 1, "annual_rate_percent": D("0")}, "principal_grace_periods"),
    ],
)
def test_grace_out_of_range_or_billing_nothing_is_refused(terms, field):
    base = {"principal": D("1000.00"), "annual_rate_percent": D("10"), "installment_count": 4, "start": SUNDAY}

    with pytest.raises(DomainError) as refused:
        build_schedule(**{**base, **terms})

    assert list(refused.value.fields) == [field]


@pytest.mark.parametrize("rules", [{"currency_digits": 1}, {"currency_digits": 3}, {"in_multiples_of": -5}])
def test_rules_out_of_range_are_refused(rules):
    with pytest.raises(DomainError) as refused:
        RoundingRules(**rules)

    assert list(refused.value.fields) == ["rounding"]


# --- Property: whatever the rules, the principals add up to the loan amount ------------------------


@settings(max_examples=400, deadline=None)
@given(
    units=st.integers(min_value=1, max_value=2_000_000),
    cents=st.integers(min_value=0, max_value=99),
    rate=st.integers(min_value=0, max_value=20_000).map(lambda thousandths: D(thousandths) / 1000),
    count=st.integers(min_value=1, max_value=260),
    grace=st.integers(min_value=0, max_value=12),
    frequency=st.sampled_from(list(Frequency)),
    method=st.sampled_from(list(Method)),
    digits=st.sampled_from([0, 2]),
    multiple=st.sampled_from([0, 1, 5, 10, 100]),
    ceiling=st.booleans(),
    last_absorbs=st.booleans(),
)
def test_principals_always_sum_to_the_loan_amount(
    units, cents, rate, count, grace, frequency, method, digits, multiple, ceiling, last_absorbs
):
    principal = D(units) if digits == 0 else D(units) + D(cents) / 100
    rules = RoundingRules(
        currency_digits=digits,
        in_multiples_of=multiple,
        installment_ceiling=ceiling,
        flat_interest_last_absorbs=last_absorbs,
    )
    grace = min(grace, count - 1)
    try:
        schedule = build_schedule(
            principal=principal,
            annual_rate_percent=rate,
            installment_count=count,
            start=SUNDAY,
            frequency=frequency,
            method=method,
            rounding=rules,
            principal_grace_periods=grace,
        )
    except DomainError as refused:
        event("refused")
        # Refused only as bad terms for this amount, naming the field.
        assert list(refused.fields) in (["installment_count"], ["principal_grace_periods"])
        return
    event("built")

    assert sum(i.principal for i in schedule) == principal
    assert schedule[-1].balance_after == 0
    assert all(i.principal == 0 and i.interest > 0 for i in schedule[:grace])
    assert all(i.principal > 0 and i.interest >= 0 for i in schedule[grace:])
    unit = rules.unit
    assert all(value == value.quantize(unit) for i in schedule for value in (i.principal, i.interest))
    if method == Method.ANNUITY and count - grace > 1:
        # Every repaying installment but the last is the rounded equal installment.
        equal = {i.amount for i in schedule[grace:-1]}
        assert len(equal) == 1
        if multiple:
            assert equal.pop() % multiple == 0
