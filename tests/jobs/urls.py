from django.urls import include, path

from rest_framework_bulk.routes import BulkRouter

from . import views

router = BulkRouter()
router.register("simple-jobs", views.SimpleJobViewSet, basename="simple-job")

urlpatterns = [
    path("jobs/simple/", views.SimpleJobView.as_view(), name="simple-jobs"),
    path("jobs/slow/", views.SlowSimpleJobView.as_view(), name="slow-jobs"),
    path("jobs/staff-only/", views.StaffOnlyJobView.as_view(), name="staff-only-jobs"),
    path("jobs/fragile/", views.FragileSimpleJobView.as_view(), name="fragile-jobs"),
    path("jobs/locked-once/", views.LockedOnceJobView.as_view(), name="locked-once-jobs"),
    path(
        "jobs/model-permission/",
        views.ModelPermissionJobView.as_view(),
        name="model-permission-jobs",
    ),
    path("api/", include(router.urls)),
    path("", include("rest_framework_bulk.jobs.urls")),
]
