"""The driver statement as a PDF (ReportLab: pure Python wheels, no system libraries)."""

from __future__ import annotations

import io
from decimal import Decimal
from html import escape
from typing import Any

from reportlab.lib import colors
from reportlab.lib.pagesizes import LETTER
from reportlab.lib.styles import PropertySet, getSampleStyleSheet
from reportlab.lib.units import inch
from reportlab.platypus import Flowable, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from ledger.models import Category

from .statement_doors import period_label
from .statements import DriverStatement

GRID = TableStyle(
    [
        ("FONTNAME", (0, 0), (-1, 0), "Helvetica-Bold"),
        ("FONTSIZE", (0, 0), (-1, -1), 8),
        ("LINEBELOW", (0, 0), (-1, 0), 0.5, colors.black),
        ("ALIGN", (-1, 0), (-1, -1), "RIGHT"),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ]
)


def _money(amount: Decimal) -> str:
    return f"{amount:,.2f}"


def _label(category: str) -> str:
    return Category(category).label if category in Category.values else "Credit"


def _text(text: str, style: PropertySet) -> Paragraph:
    """A paragraph of plain text: ReportLab reads markup, so names and descriptions are escaped."""
    return Paragraph(escape(text), style)


def _table(header: list[str], rows: list[list[Any]], widths: list[float]) -> Table:
    data = [header, *rows] if rows else [header, ["Nothing in this period."] + [""] * (len(header) - 1)]
    # Fixed column widths: long descriptions wrap (Paragraph cells) rather than run off the page.
    return Table(data, colWidths=[w * inch for w in widths], style=GRID, repeatRows=1)


def render_pdf(statement: DriverStatement) -> bytes:
    book, driver = statement.book, statement.driver
    styles = getSampleStyleSheet()
    small = styles["BodyText"].clone("small", fontSize=8, leading=10)
    story: list[Flowable] = [
        _text(f"Statement of {driver.full_name} (TLC {driver.tlc_license_number})", styles["Title"]),
        Paragraph(f"{period_label(book.date_from, book.date_to)}, {book.currency}", styles["Normal"]),
        Spacer(1, 0.2 * inch),
    ]
    summary = [
        ["Opening balance", _money(book.opening_balance)],
        *[[f"Charges: {_label(c)}", _money(a)] for c, a in book.charges.items()],
        ["Payments", _money(-book.payments)],
        ["Closing balance", _money(book.closing_balance)],
        ["Credit held at the end", _money(book.closing_credit)],
    ]
    story += [_table(["Summary", "Amount"], summary, [4.5, 2]), Spacer(1, 0.2 * inch)]
    story += [
        Paragraph("Charges", styles["Heading2"]),
        _table(
            ["Date", "Description", "Category", "Amount"],
            [
                [
                    str(line.entry_date),
                    _text(line.description, small),
                    _label(line.category),
                    _money(line.debit - line.credit),
                ]
                for line in book.charge_lines
            ],
            [1, 3.5, 1, 1],
        ),
        Paragraph("Payments and what they paid", styles["Heading2"]),
        _table(
            ["Date", "Payment / item", "Category", "Amount"],
            [[str(p.entry_date), _text(p.description, small), "", _money(p.amount)] for p in book.payment_entries]
            + [
                [
                    str(a.entry_date),
                    _text(f"paid {a.reference or a.item_id}", small),
                    _label(a.category),
                    _money(a.amount),
                ]
                for a in book.allocations
            ],
            [1, 3.5, 1, 1],
        ),
        Paragraph("Installments due in the period", styles["Heading2"]),
        _table(
            ["Loan", "No.", "Due", "Principal", "Interest", "Status", "Amount"],
            [
                [
                    i.loan.loan_number,
                    str(i.sequence),
                    str(i.due_date),
                    _money(i.principal),
                    _money(i.interest),
                    i.payment_state,
                    _money(i.amount),
                ]
                for i in statement.installments
            ],
            [1.2, 0.4, 0.9, 0.9, 0.8, 1.1, 0.9],
        ),
    ]
    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer, pagesize=LETTER, title=f"Statement {driver.tlc_license_number} {book.date_from}", author="Back office"
    )
    document.build(story)
    return buffer.getvalue()
