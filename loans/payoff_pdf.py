"""The payoff quote as a PDF, in the driver statement's style (statement_pdf.py, ReportLab)."""

from __future__ import annotations

import io
from typing import Any

from reportlab.lib.pagesizes import LETTER
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import inch
from reportlab.platypus import Flowable, Paragraph, SimpleDocTemplate, Spacer

from .payoff import PayoffQuote
from .statement_pdf import _money, _table, _text


def render_pdf(quote: PayoffQuote) -> bytes:
    loan, driver = quote.loan, quote.loan.driver
    styles = getSampleStyleSheet()
    small = styles["BodyText"].clone("small", fontSize=8, leading=10)
    story: list[Flowable] = [
        _text(f"Payoff quote of {loan.loan_number}", styles["Title"]),
        _text(f"{driver.full_name} (TLC {driver.tlc_license_number})", styles["Normal"]),
        Paragraph(
            f"As of {quote.as_of:%a %d %b %Y}; valid until {quote.valid_until:%a %d %b %Y}: paid on or before that "
            "day, this amount settles the loan.",
            styles["Normal"],
        ),
        Spacer(1, 0.2 * inch),
    ]
    interest_label = "Interest to the payoff date"
    if quote.period is not None:
        period = quote.period
        interest_label += (
            f" ({period.days_elapsed} of {period.days} days from {period.start} of installment "
            f"{period.installment_sequence}'s {_money(period.interest_of_period)})"
        )
    summary: list[list[Any]] = [
        ["Principal not yet billed", _money(quote.principal)],
        [_text(interest_label, small), _money(quote.interest)],
        ["Billed and unpaid", _money(quote.billed_total)],
        ["Payoff amount", _money(quote.total)],
        ["Credit the driver holds (not deducted)", _money(quote.credit)],
    ]
    story += [_table(["Payoff", "Amount"], summary, [4.5, 2]), Spacer(1, 0.2 * inch)]
    story += [
        Paragraph("Billed and unpaid", styles["Heading2"]),
        _table(
            ["Due", "Item", "Kind", "Outstanding"],
            [
                [str(item.due_date), _text(item.reference, small), item.kind, _money(item.outstanding)]
                for item in quote.billed_items
            ],
            [1, 3.5, 1, 1],
        ),
    ]
    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer, pagesize=LETTER, title=f"Payoff quote {loan.loan_number} {quote.as_of}", author="Back office"
    )
    document.build(story)
    return buffer.getvalue()
