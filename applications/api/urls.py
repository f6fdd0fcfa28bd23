from rest_framework.routers import DefaultRouter

from .views import ApplicationViewSet, CustomerViewSet

router = DefaultRouter()
router.register("applications", ApplicationViewSet, basename="application")
router.register("customers", CustomerViewSet, basename="customer")

urlpatterns = router.urls
