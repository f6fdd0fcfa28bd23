from django.urls import path
from rest_framework.routers import SimpleRouter

from .approvals import ApprovalRequestViewSet
from .exports import ExportJobFileView, ExportJobView

router = SimpleRouter()
router.register("approval-requests", ApprovalRequestViewSet, basename="approval-request")

urlpatterns = [
    path("exports/<int:pk>/", ExportJobView.as_view(), name="export-job"),
    path("exports/<int:pk>/file/", ExportJobFileView.as_view(), name="export-job-file"),
    *router.urls,
]
