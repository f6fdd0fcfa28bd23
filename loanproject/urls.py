from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from loanproject.core import health, metrics
from loanproject.dashboard import views as dashboard_views

admin.site.site_header = "Loan back office"
admin.site.site_title = "Loan back office"
admin.site.index_title = "Back office"

api_v1 = [
    path("", include("applications.api.urls")),
    path("finance/", include("finance.api.urls")),
    path("", include("loans.api.urls")),
    path("ledger/", include("ledger.api.urls")),
    path("", include("loanproject.core.api.urls")),
]

urlpatterns = [
    path("admin/dashboard/", dashboard_views.dashboard, name="dashboard"),
    path("admin/", admin.site.urls),
    path("api/v1/", include((api_v1, "api"), namespace="api")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path(
        "api/redoc/",
        SpectacularRedocView.as_view(url_name="api-schema", template_name="api/redoc.html"),
        name="api-redoc",
    ),
    path("health/", health.health, name="health"),
    path("ready/", health.ready, name="ready"),
    path("metrics", metrics.metrics_view, name="prometheus-django-metrics"),
    path("metrics/", metrics.metrics_view, name="metrics"),
]

handler404 = "loanproject.core.api.errors.not_found"
handler500 = "loanproject.core.api.errors.server_error"
