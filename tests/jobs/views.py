"""Views that submit every bulk request as a job, as the ``/bulk/`` endpoint does above its threshold."""

from __future__ import annotations

import os
import time

from django.conf import settings
from django.db import OperationalError
from rest_framework import serializers
from rest_framework.permissions import DjangoModelPermissions, IsAuthenticated

from rest_framework_bulk import BulkListSerializer, BulkModelViewSet, BulkSerializerMixin
from rest_framework_bulk.generics import ListBulkCreateUpdateDestroyAPIView
from rest_framework_bulk.jobs.submit import accepted_response, submit_job
from rest_framework_bulk.mixins import parse_flag, parse_prefer
from tests.models import SimpleModel


class SimpleJobSerializer(BulkSerializerMixin, serializers.ModelSerializer):
    #: Seconds each item takes to validate, to catch a job in the middle.
    delay = 0.0

    class Meta:
        model = SimpleModel
        fields = ["id", "number", "contents"]
        list_serializer_class = BulkListSerializer

    def validate_contents(self, value):
        if self.delay:
            time.sleep(self.delay)
        if value == "bad":
            raise serializers.ValidationError("Bad contents.", code="bad")
        return value


class SlowSimpleJobSerializer(SimpleJobSerializer):
    delay = 0.01


class FragileSimpleJobSerializer(SimpleJobSerializer):
    """Crashes on ``"crash"``, as code that meets a value it never expected does."""

    def validate_contents(self, value):
        if value == "crash":
            raise OverflowError("Python int too large to convert to SQLite INTEGER")
        return super().validate_contents(value)


class LockedOnceSimpleJobSerializer(SimpleJobSerializer):
    """Meets a locked database once, after the test has left a ``locked-once`` file."""

    def validate_contents(self, value):
        marker = os.path.join(settings.MEDIA_ROOT, "locked-once")
        if os.path.exists(marker):
            os.remove(marker)
            raise OperationalError("database is locked")
        return super().validate_contents(value)


class SubmitJobMixin:
    """Answers every bulk request with ``202 Accepted`` and a job."""

    permission_classes = [IsAuthenticated]

    def submit(self, operation):
        request = self.request
        options = {
            "handling": parse_prefer(request).get("handling", "strict"),
            "dry_run": parse_flag(request, "dry_run"),
        }
        data = request.FILES["file"] if "file" in request.FILES else request.data
        job = submit_job(
            request=request, view=self, operation=operation, items_or_file=data, options=options
        )
        return accepted_response(job, request)

    def create(self, request, *args, **kwargs):
        if "file" in request.FILES:
            return self.submit("create")
        return super().create(request, *args, **kwargs)

    def bulk_create(self, request, *args, **kwargs):
        return self.submit("create")

    def bulk_update(self, request, *args, **kwargs):
        return self.submit("partial_update" if kwargs.get("partial") else "update")

    def bulk_destroy(self, request, *args, **kwargs):
        return self.submit("destroy")


class SimpleJobView(SubmitJobMixin, ListBulkCreateUpdateDestroyAPIView):
    queryset = SimpleModel.objects.all()
    serializer_class = SimpleJobSerializer


class SlowSimpleJobView(SimpleJobView):
    serializer_class = SlowSimpleJobSerializer


class SimpleJobViewSet(SubmitJobMixin, BulkModelViewSet):
    queryset = SimpleModel.objects.all()
    serializer_class = SimpleJobSerializer

    def filter_queryset(self, queryset):
        # Only rows with a positive number may be updated or deleted.
        return queryset.filter(number__gt=0)


class StaffOnlyJobView(SimpleJobView):
    """Submits for anyone logged in; the job itself needs staff."""

    def check_permissions(self, request):
        super().check_permissions(request)
        if type(request._request).__name__ == "JobHttpRequest" and not request.user.is_staff:
            self.permission_denied(
                request, message="Only staff may run this job.", code="staff_only"
            )


class FragileSimpleJobView(SimpleJobView):
    serializer_class = FragileSimpleJobSerializer


class LockedOnceJobView(SimpleJobView):
    serializer_class = LockedOnceSimpleJobSerializer


class ModelPermissionJobView(SimpleJobView):
    """Needs Django's model permissions (``tests.add_simplemodel`` to create)."""

    permission_classes = [DjangoModelPermissions]
