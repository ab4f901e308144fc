"""
djangorestframework-bulk's DRF 3 modules, kept as aliases.

Code written for djangorestframework-bulk 0.2.1 may import from
``rest_framework_bulk.drf3.serializers`` and ``rest_framework_bulk.drf3.mixins``;
the names are those of ``rest_framework_bulk.serializers`` and
``rest_framework_bulk.mixins``. New code imports them from
``rest_framework_bulk``.
"""
