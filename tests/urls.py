from django.urls import include, path
from rest_framework.routers import SimpleRouter

from rest_framework_bulk.routes import BulkRouter

from . import views

router = BulkRouter()
router.register("simple", views.SimpleViewSet, basename="simple")
router.register("items", views.ItemViewSet, basename="item")
router.register("filtered-items", views.FilteredItemViewSet, basename="filtered-item")
router.register("documents", views.DocumentViewSet, basename="document")
router.register("articles", views.ArticleViewSet, basename="article")
router.register("notes", views.NoteViewSet, basename="note")
router.register("unchecked-items", views.UncheckedItemViewSet, basename="unchecked-item")
router.register("failing-items", views.FailingHookViewSet, basename="failing-item")
router.register("plain-items", views.PlainItemViewSet, basename="plain-item")
router.register("no-delete-items", views.NoBulkDeleteItemViewSet, basename="no-delete-item")
router.register("scoped-items", views.ScopedItemViewSet, basename="scoped-item")
router.register("tasks", views.TaskViewSet, basename="task")
router.register("records", views.RecordViewSet, basename="record")
router.register("shelves", views.ShelfViewSet, basename="shelf")
router.register("checked", views.CheckedViewSet, basename="checked")
router.register("soft-destroy-items", views.SoftDestroyItemViewSet, basename="soft-destroy-item")
router.register("tickets", views.TicketViewSet, basename="ticket")
router.register("strict-tickets", views.StrictTicketViewSet, basename="strict-ticket")
router.register("writable-tickets", views.WritableVersionTicketViewSet, basename="writable-ticket")
router.register("per-item-tickets", views.PerItemTicketViewSet, basename="per-item-ticket")
router.register("pages", views.PageViewSet, basename="page")
router.register("memos", views.MemoViewSet, basename="memo")
router.register("null-token-memos", views.NullTokenMemoViewSet, basename="null-token-memo")
router.register("bulk-filtered-items", views.FilterBackendItemViewSet, basename="bulk-filtered")

plain_router = SimpleRouter()
plain_router.register("items", views.ItemBulkViewSet, basename="item")
plain_router.register("documents", views.DocumentBulkViewSet, basename="document")
plain_router.register("conflicting", views.ConflictingHookBulkViewSet, basename="conflicting")
plain_router.register("filterset-items", views.FilterSetItemViewSet, basename="filterset-item")
plain_router.register(
    "filterset-fields-items", views.FilterSetFieldsItemViewSet, basename="filterset-fields-item"
)

urlpatterns = [
    path("v2/", include((plain_router.urls, "v2"), namespace="v2")),
    path("bulk/", views.SimpleBulkAPIView.as_view(), name="bulk"),
    path("key-required/", views.KeyRequiredBulkAPIView.as_view(), name="key-required"),
    path("filtered/", views.FilteredBulkAPIView.as_view(), name="filtered"),
    path("api/", include((router.urls, "api"), namespace="api")),
    path("api-auth/", include("rest_framework.urls")),
    path("", include("rest_framework_bulk.urls")),
]
