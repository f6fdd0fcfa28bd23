from django.urls import path

from .exports import ExportJobFileView, ExportJobView

urlpatterns = [
    path("exports/<int:pk>/", ExportJobView.as_view(), name="export-job"),
    path("exports/<int:pk>/file/", ExportJobFileView.as_view(), name="export-job-file"),
]
