"""What a posting run covers: the due installments, cut into chunks of (due date, id) ranges."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import date

from django.core.exceptions import ValidationError
from django.db.models import Exists, F, OuterRef, Q, QuerySet, Value, Window
from django.db.models.functions import Mod, RowNumber

from ..models import ChunkKind, Installment, InstallmentStatus, Lease, LeaseCharge, LoanStatus, PostingRunChunk


@dataclass(frozen=True)
class PostingChunk:
    """Installments from (first_due, first_id) up to, not including, (next_due, next_id); or,
    of kind lease fees, leases from id first_id up to, not including, next_id (the dates are the
    run's week start)."""

    first_due: date
    first_id: int
    next_due: date | None
    next_id: int | None
    planned: int
    kind: str = ChunkKind.INSTALLMENTS

    @property
    def is_lease_fees(self) -> bool:
        return self.kind == ChunkKind.LEASE_FEES

    def as_dict(self) -> dict:
        """JSON for a Celery task argument."""
        return {
            **asdict(self),
            "first_due": self.first_due.isoformat(),
            "next_due": self.next_due and self.next_due.isoformat(),
        }

    @classmethod
    def from_dict(cls, data: dict) -> PostingChunk:
        return cls(
            first_due=date.fromisoformat(data["first_due"]),
            first_id=data["first_id"],
            next_due=date.fromisoformat(data["next_due"]) if data["next_due"] else None,
            next_id=data["next_id"],
            planned=data["planned"],
            kind=data.get("kind", ChunkKind.INSTALLMENTS),  # chunks queued before lease fees existed
        )

    @classmethod
    def of_record(cls, record: PostingRunChunk) -> PostingChunk:
        """The chunk a run's plan recorded."""
        return cls(record.first_due, record.first_id, record.next_due, record.next_id, record.planned, record.kind)

    def bounds(self) -> Q:
        if self.is_lease_fees:
            return Q(id__gte=self.first_id) & (Q() if self.next_id is None else Q(id__lt=self.next_id))
        lower = Q(due_date__gt=self.first_due) | Q(due_date=self.first_due, id__gte=self.first_id)
        if self.next_due is None:
            return lower
        return lower & (Q(due_date__lt=self.next_due) | Q(due_date=self.next_due, id__lt=self.next_id))


def due_installments(*, period_end: date, loan_ids: Sequence[int] | None = None) -> QuerySet[Installment]:
    """Installments a run for the period would post: unposted, due by its end, of active loans."""
    installments = Installment.objects.filter(
        status=InstallmentStatus.SCHEDULED, due_date__lte=period_end, loan__status=LoanStatus.ACTIVE
    )
    if loan_ids is not None:
        installments = installments.filter(loan_id__in=list(loan_ids))
    return installments


def plan_chunks(*, period_end: date, chunk_size: int, loan_ids: Sequence[int] | None = None) -> list[PostingChunk]:
    """Cut the due installments into chunks of `chunk_size`, reading only every chunk's first key."""
    if chunk_size < 1:
        raise ValidationError({"chunk_size": ["At least 1."]})
    due = due_installments(period_end=period_end, loan_ids=loan_ids)
    total = due.count()
    firsts = list(
        due.annotate(position=Window(RowNumber(), order_by=[F("due_date").asc(), F("id").asc()]))
        .annotate(offset=Mod(F("position") - 1, Value(chunk_size)))
        .filter(offset=0)
        .order_by("due_date", "id")
        .values_list("due_date", "id")
    )
    chunks = []
    for index, (first_due, first_id) in enumerate(firsts):
        following = firsts[index + 1] if index + 1 < len(firsts) else (None, None)
        planned = chunk_size if index + 1 < len(firsts) else total - chunk_size * index
        chunks.append(PostingChunk(first_due, first_id, following[0], following[1], planned))
    return chunks


def billable_leases(*, period_start: date, period_end: date) -> QuerySet[Lease]:
    """Leases whose fee a run for the week bills: a positive fee, running on a day of the week,
    not yet billed for it."""
    return (
        Lease.objects.filter(weekly_fee__gt=0, start_date__lte=period_end)
        .filter(Q(end_date__isnull=True) | Q(end_date__gte=period_start))
        .filter(~Exists(LeaseCharge.objects.filter(lease=OuterRef("pk"), week_start=period_start)))
    )


def plan_lease_chunks(*, period_start: date, period_end: date, chunk_size: int) -> list[PostingChunk]:
    """Cut the week's billable leases into chunks of `chunk_size` lease ids."""
    leases = billable_leases(period_start=period_start, period_end=period_end)
    total = leases.count()
    firsts = list(
        leases.annotate(position=Window(RowNumber(), order_by=[F("id").asc()]))
        .annotate(offset=Mod(F("position") - 1, Value(chunk_size)))
        .filter(offset=0)
        .order_by("id")
        .values_list("id", flat=True)
    )
    chunks = []
    for index, first_id in enumerate(firsts):
        next_id = firsts[index + 1] if index + 1 < len(firsts) else None
        planned = chunk_size if next_id is not None else total - chunk_size * index
        chunks.append(
            PostingChunk(
                period_start, first_id, period_start if next_id else None, next_id, planned, ChunkKind.LEASE_FEES
            )
        )
    return chunks
