"""Staff API of maker-checker requests (core.approvals): the queue, and approve, reject, withdraw.

Reading needs `core.view_approvalrequest`; deciding also needs the permission of the request's
action (the service checks it), and nobody decides their own request."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib.auth.models import User
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.authentication import SessionAuthentication
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from .. import approvals
from ..auth import acting_user
from ..models import ApprovalRequest, ApprovalStatus
from .authentication import HasStaffPermission, StaffTokenAuthentication
from .pagination import CursorPagination

VIEW_REQUESTS = "core.view_approvalrequest"


class ApprovalRequestSerializer(serializers.ModelSerializer[ApprovalRequest]):
    requested_by = serializers.CharField(source="requested_by.get_username", read_only=True)
    decided_by = serializers.CharField(source="decided_by.get_username", read_only=True, allow_null=True)

    class Meta:
        model = ApprovalRequest
        fields = ["id", *approvals.REQUEST_FIELDS]
        read_only_fields = fields


class ApprovalDecisionSerializer(serializers.Serializer[None]):
    note = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class ApprovalRequestFilter(filters.FilterSet):
    status = filters.ChoiceFilter(choices=ApprovalStatus.choices)
    action = filters.CharFilter()

    class Meta:
        model = ApprovalRequest
        fields = ["status", "action"]


class ApprovalRequestViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[ApprovalRequest]
):
    authentication_classes = [StaffTokenAuthentication, SessionAuthentication]
    permission_classes = [HasStaffPermission]
    required_permissions = dict.fromkeys(["list", "retrieve", "approve", "reject", "withdraw"], VIEW_REQUESTS)
    serializer_class = ApprovalRequestSerializer
    filterset_class = ApprovalRequestFilter
    pagination_class = CursorPagination
    ordering_fields = ["id"]
    ordering = ["-id"]
    queryset = ApprovalRequest.objects.select_related("requested_by", "decided_by")
    lookup_value_regex = r"[0-9]+"

    def _decide(self, request: Request, decide: Callable[[User, str], ApprovalRequest]) -> Response:
        serializer = ApprovalDecisionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        decided = decide(acting_user(request), serializer.validated_data["note"])
        return Response(ApprovalRequestSerializer(self.get_queryset().get(pk=decided.pk)).data)

    @extend_schema(request=ApprovalDecisionSerializer, responses={200: ApprovalRequestSerializer})
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, pk: str) -> Response:
        """Approve someone else's waiting request: its action runs now, in the same transaction."""
        return self._decide(
            request, lambda user, note: approvals.approve_request(request_id=int(pk), decided_by=user, note=note)
        )

    @extend_schema(request=ApprovalDecisionSerializer, responses={200: ApprovalRequestSerializer})
    @action(detail=True, methods=["post"])
    def reject(self, request: Request, pk: str) -> Response:
        """Reject someone else's waiting request; `note` says why (required)."""
        return self._decide(
            request, lambda user, note: approvals.reject_request(request_id=int(pk), decided_by=user, note=note)
        )

    @extend_schema(request=None, responses={200: ApprovalRequestSerializer})
    @action(detail=True, methods=["post"])
    def withdraw(self, request: Request, pk: str) -> Response:
        """Withdraw your own request while it waits."""
        withdrawn = approvals.cancel_request(request_id=int(pk), requested_by=acting_user(request))
        return Response(ApprovalRequestSerializer(self.get_queryset().get(pk=withdrawn.pk)).data)


def approval_response(request: ApprovalRequest) -> Response:
    """A door's answer to a request it made: 201 with the result when done at once (below the
    threshold), 202 while it waits for a second person (poll /approval-requests/{id}/)."""
    done = request.status == ApprovalStatus.DIRECT
    return Response(ApprovalRequestSerializer(request).data, status=201 if done else 202)
