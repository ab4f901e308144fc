from __future__ import annotations

from django.db import models


class Account(models.Model):
    name = models.CharField(max_length=100, unique=True)

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return self.name


class Product(models.Model):
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="products")
    sku = models.CharField(max_length=32, unique=True)
    name = models.CharField(max_length=200)
    price = models.DecimalField(max_digits=10, decimal_places=2)
    quantity = models.IntegerField(default=0)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"{self.sku} {self.name}"
