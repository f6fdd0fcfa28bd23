from django.urls import path
from rest_framework.routers import DefaultRouter

from .reviews import ReviewDecisionView, ReviewQueueView
from .views import ApplicationViewSet, CustomerViewSet

router = DefaultRouter()
router.register("applications", ApplicationViewSet, basename="application")
router.register("customers", CustomerViewSet, basename="customer")

urlpatterns = [
    path("reviews/queue/", ReviewQueueView.as_view(), name="review-queue"),
    path("reviews/<str:application_id>/decision/", ReviewDecisionView.as_view(), name="review-decision"),
    *router.urls,
]
