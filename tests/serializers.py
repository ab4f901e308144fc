from __future__ import annotations

from rest_framework import serializers

from rest_framework_bulk import BulkListSerializer, BulkSerializerMixin

from .models import (
    Account,
    Article,
    Book,
    Checked,
    Document,
    Item,
    Memo,
    Note,
    Page,
    Record,
    Shelf,
    SimpleModel,
    Tag,
    Task,
    Ticket,
)


class SimpleSerializer(BulkSerializerMixin, serializers.ModelSerializer):
    class Meta:
        model = SimpleModel
        fields = "__all__"
        list_serializer_class = BulkListSerializer


class OwnAccountField(serializers.PrimaryKeyRelatedField):
    """Only accounts of the requesting user (all of them without a request)."""

    def get_queryset(self):
        request = self.context.get("request")
        queryset = Account.objects.all()
        if request is not None and request.user.is_authenticated and not request.user.is_staff:
            queryset = queryset.filter(owner=request.user)
        return queryset


class ItemSerializer(BulkSerializerMixin, serializers.ModelSerializer):
    account = OwnAccountField()
    tags = serializers.PrimaryKeyRelatedField(queryset=Tag.objects.all(), many=True, required=False)

    class Meta:
        model = Item
        fields = ["id", "account", "sku", "ref", "name", "price", "quantity", "tags", "updated_at"]
        list_serializer_class = BulkListSerializer

    def validate_name(self, value):
        if value == "forbidden":
            raise serializers.ValidationError("This name is not allowed.", code="forbidden_name")
        return value


class DocumentSerializer(BulkSerializerMixin, serializers.ModelSerializer):
    class Meta:
        model = Document
        fields = "__all__"
        list_serializer_class = BulkListSerializer


class ArticleSerializer(BulkSerializerMixin, serializers.ModelSerializer):
    class Meta:
        model = Article
        fields = ["slug", "title", "views"]
        list_serializer_class = BulkListSerializer
        update_lookup_field = "slug"


class NoteSerializer(BulkSerializerMixin, serializers.ModelSerializer):
    class Meta:
        model = Note
        fields = "__all__"
        read_only_fields = ["save_count"]
        list_serializer_class = BulkListSerializer


class UncheckedItemSerializer(ItemSerializer):
    """No unique validation: conflicts only surface in the database."""

    sku = serializers.CharField(max_length=32)

    class Meta(ItemSerializer.Meta):
        validators: list = []


class PlainItemSerializer(serializers.ModelSerializer):
    """No BulkSerializerMixin, no list_serializer_class."""

    class Meta:
        model = Item
        fields = ["id", "account", "sku", "ref", "name", "quantity"]


class TaskSerializer(BulkSerializerMixin, serializers.ModelSerializer):
    class Meta:
        model = Task
        fields = ["id", "title"]
        list_serializer_class = BulkListSerializer


class RecordSerializer(BulkSerializerMixin, serializers.ModelSerializer):
    class Meta:
        model = Record
        fields = ["id", "name", "size"]
        list_serializer_class = BulkListSerializer


class ShelfSerializer(BulkSerializerMixin, serializers.ModelSerializer):
    class Meta:
        model = Shelf
        fields = ["id", "name"]
        list_serializer_class = BulkListSerializer


class BookSerializer(BulkSerializerMixin, serializers.ModelSerializer):
    class Meta:
        model = Book
        fields = ["id", "shelf", "title"]
        list_serializer_class = BulkListSerializer


class CheckedSerializer(BulkSerializerMixin, serializers.ModelSerializer):
    class Meta:
        model = Checked
        fields = ["id", "code"]
        list_serializer_class = BulkListSerializer


class TicketSerializer(BulkSerializerMixin, serializers.ModelSerializer):
    class Meta:
        model = Ticket
        fields = ["id", "title", "status", "version"]
        read_only_fields = ["version"]
        list_serializer_class = BulkListSerializer


class PageSerializer(BulkSerializerMixin, serializers.ModelSerializer):
    class Meta:
        model = Page
        fields = ["id", "title", "updated_at"]
        list_serializer_class = BulkListSerializer
        bulk_version_field = "updated_at"


class WritableVersionTicketSerializer(TicketSerializer):
    """Lets clients send `version` as data: the engine must still not store it."""

    class Meta(TicketSerializer.Meta):
        read_only_fields: list = []


class MemoSerializer(BulkSerializerMixin, serializers.ModelSerializer):
    class Meta:
        model = Memo
        fields = ["id", "key", "text", "note", "amount", "count", "flag"]
        # Keep text exactly as sent, so that a round trip shows what CSV keeps.
        extra_kwargs = {
            "key": {"trim_whitespace": False},
            "text": {"trim_whitespace": False},
            "note": {"trim_whitespace": False},
        }
        list_serializer_class = BulkListSerializer
