from django.apps import AppConfig


class DashboardConfig(AppConfig):
    name = "loanproject.dashboard"
    label = "dashboard"
    verbose_name = "Dashboard"
