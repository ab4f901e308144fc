from __future__ import annotations

import django_filters
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import permissions, viewsets

from rest_framework_bulk import (
    BulkModelViewSet,
    BulkOperationsMixin,
    ListBulkCreateUpdateDestroyAPIView,
)
from rest_framework_bulk.filters import BulkFilterBackend

from .models import (
    Article,
    Checked,
    Document,
    Item,
    Memo,
    Note,
    Page,
    Record,
    Shelf,
    SimpleModel,
    Task,
    Ticket,
)
from .serializers import (
    ArticleSerializer,
    CheckedSerializer,
    DocumentSerializer,
    ItemSerializer,
    MemoSerializer,
    NoteSerializer,
    PageSerializer,
    PlainItemSerializer,
    RecordSerializer,
    ShelfSerializer,
    SimpleSerializer,
    TaskSerializer,
    TicketSerializer,
    UncheckedItemSerializer,
    WritableVersionTicketSerializer,
)


class SimpleBulkAPIView(ListBulkCreateUpdateDestroyAPIView):
    queryset = SimpleModel.objects.all()
    serializer_class = SimpleSerializer


class KeyRequiredBulkAPIView(SimpleBulkAPIView):
    bulk_idempotency_required = True


class FilteredBulkAPIView(SimpleBulkAPIView):
    def filter_queryset(self, queryset):
        return queryset.filter(number__gt=5)


class SimpleViewSet(BulkModelViewSet):
    queryset = SimpleModel.objects.all()
    serializer_class = SimpleSerializer

    def filter_queryset(self, queryset):
        return queryset.filter(number__gt=5)


class NotLocked(permissions.BasePermission):
    """Refuses objects whose name starts with "locked"."""

    message = "This item is locked."

    def has_object_permission(self, request, view, obj):
        return not obj.name.startswith("locked")


class ItemViewSet(BulkModelViewSet):
    """Items of the requesting user's accounts (all items for anonymous tests)."""

    serializer_class = ItemSerializer
    permission_classes = [NotLocked]

    def get_queryset(self):
        queryset = Item.objects.all()
        user = self.request.user
        if user.is_authenticated and not user.is_staff:
            queryset = queryset.filter(account__owner=user)
        return queryset


class FilteredItemViewSet(ItemViewSet):
    filter_backends = [DjangoFilterBackend]
    filterset_fields = ["account", "sku"]


class DocumentViewSet(BulkModelViewSet):
    queryset = Document.objects.all()
    serializer_class = DocumentSerializer


class ArticleViewSet(BulkModelViewSet):
    queryset = Article.objects.all()
    serializer_class = ArticleSerializer
    lookup_field = "slug"


class NoteViewSet(BulkModelViewSet):
    queryset = Note.objects.all()
    serializer_class = NoteSerializer


class UncheckedItemViewSet(ItemViewSet):
    serializer_class = UncheckedItemSerializer


class FailingHookViewSet(ItemViewSet):
    """Writes, then refuses: the writes must not stay."""

    def perform_bulk_create(self, serializer):
        from rest_framework.exceptions import ValidationError

        serializer.save()
        raise ValidationError({"detail": "Refused after saving."})


class ItemBulkViewSet(BulkOperationsMixin, viewsets.ModelViewSet):
    """The /bulk/ endpoint on a plain ModelViewSet."""

    serializer_class = ItemSerializer
    permission_classes = [NotLocked]
    bulk_filter_fields = {"quantity": ["gte", "lte"], "account": ["exact", "in"], "name": ["exact"]}
    bulk_upsert_fields = ["sku"]

    def get_queryset(self):
        return ItemViewSet.get_queryset(self)


class DocumentBulkViewSet(BulkOperationsMixin, viewsets.ModelViewSet):
    queryset = Document.objects.all()
    serializer_class = DocumentSerializer


class PlainItemViewSet(ItemViewSet):
    serializer_class = PlainItemSerializer


class ConflictingHookBulkViewSet(ItemBulkViewSet):
    """Raises a database conflict from a hook on /bulk/."""

    def perform_bulk_create(self, serializer):
        serializer.save()
        Item.objects.create(
            account=serializer.instance[0].account,
            sku=serializer.instance[0].sku,
            ref="dup",
            name="dup",
        )


class NoBulkDeleteItemViewSet(ItemViewSet):
    """Forbids bulk deletes, as djangorestframework-bulk's docs showed."""

    def allow_bulk_destroy(self, qs, filtered):
        return False


class OwnItemsFilter:
    """A filter backend that scopes the list to the user's accounts."""

    def filter_queryset(self, request, queryset, view):
        if request.user.is_authenticated:
            return queryset.filter(account__owner=request.user)
        return queryset.none()


class ScopedItemViewSet(BulkModelViewSet):
    """Scoped by a filter backend, not by ``get_queryset()``."""

    queryset = Item.objects.all()
    serializer_class = ItemSerializer
    filter_backends = [OwnItemsFilter]


class TaskViewSet(BulkOperationsMixin, BulkModelViewSet):
    """A soft-delete model, on the list route and on /bulk/."""

    queryset = Task.objects.all()
    serializer_class = TaskSerializer


class RecordViewSet(BulkOperationsMixin, BulkModelViewSet):
    """Delete receivers read the rows' fields."""

    queryset = Record.objects.all()
    serializer_class = RecordSerializer


class ShelfViewSet(BulkOperationsMixin, BulkModelViewSet):
    """Shelves with books are protected from deletion."""

    queryset = Shelf.objects.all()
    serializer_class = ShelfSerializer


class CheckedViewSet(BulkOperationsMixin, BulkModelViewSet):
    """The model's ``save()`` runs ``full_clean()``."""

    queryset = Checked.objects.all()
    serializer_class = CheckedSerializer


class SoftDestroyItemViewSet(ItemViewSet):
    """Overrides ``perform_destroy()``: renames instead of deleting."""

    def perform_destroy(self, instance):
        instance.name = "destroyed"
        instance.save(update_fields=["name"])


class TicketViewSet(BulkOperationsMixin, BulkModelViewSet):
    """Versioned by the view: `version` is checked and incremented."""

    queryset = Ticket.objects.all()
    serializer_class = TicketSerializer
    bulk_version_field = "version"
    bulk_filter_fields = ["title"]
    bulk_upsert_fields = ["id"]


class StrictTicketViewSet(TicketViewSet):
    """Every update and delete item must carry its version."""

    bulk_version_required = True


class WritableVersionTicketViewSet(TicketViewSet):
    serializer_class = WritableVersionTicketSerializer


class PerItemTicketViewSet(TicketViewSet):
    """Saves item by item, through `save()`."""

    bulk_save_per_item = True


class PageViewSet(BulkOperationsMixin, BulkModelViewSet):
    """Versioned by the serializer's `Meta.bulk_version_field` (a timestamp)."""

    queryset = Page.objects.all()
    serializer_class = PageSerializer


class ItemFilterSet(django_filters.FilterSet):
    """Declares one relation (``account__name``) and a range read as two parameters."""

    price = django_filters.RangeFilter()
    account_name = django_filters.CharFilter(field_name="account__name", lookup_expr="iexact")

    class Meta:
        model = Item
        fields = {
            "account": ["exact", "in"],
            "sku": ["exact"],
            "quantity": ["exact", "gte", "lte"],
            "name": ["icontains"],
            "account__name": ["exact"],
        }


class FilterSetItemViewSet(BulkOperationsMixin, viewsets.ModelViewSet):
    """/bulk/ filtered by the view's django-filter FilterSet."""

    serializer_class = ItemSerializer
    filter_backends = [DjangoFilterBackend]
    filterset_class = ItemFilterSet
    bulk_upsert_fields = ["sku"]

    def get_queryset(self):
        return ItemViewSet.get_queryset(self)


class FilterSetFieldsItemViewSet(FilterSetItemViewSet):
    """``filterset_fields`` and ``bulk_filter_fields`` both: the latter decide on /bulk/."""

    filterset_class = None
    filterset_fields = ["sku", "account"]
    bulk_filter_fields = ["name", "account"]


class MemoViewSet(BulkOperationsMixin, BulkModelViewSet):
    """Text of every kind, for CSV round trips through /bulk/."""

    queryset = Memo.objects.all()
    serializer_class = MemoSerializer
    bulk_upsert_fields = ["key"]
    bulk_filter_fields = {"key": ["exact", "startswith"]}


class NullTokenMemoViewSet(MemoViewSet):
    """Its own null token."""

    csv_null_value = "NULL"


class FilterBackendItemViewSet(BulkModelViewSet):
    """Filtered on every route by ``BulkFilterBackend``."""

    queryset = Item.objects.all()
    serializer_class = ItemSerializer
    filter_backends = [BulkFilterBackend]
    bulk_filter_fields = {"quantity": ["gte"], "sku": ["exact", "startswith"]}
