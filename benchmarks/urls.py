from __future__ import annotations

from django.urls import path

from benchmarks import views

urlpatterns = [
    path("plain/products/", views.PlainProductListView.as_view(), name="plain-products"),
]

if views.ENGINE_ERROR is None:
    urlpatterns.append(
        path("bulk/products/", views.ProductBulkView.as_view(), name="bulk-products"),
    )
