from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "loanproject.demo"
    label = "demo"
    verbose_name = "Demo data"
