from __future__ import annotations

import factory
from django.contrib.auth import get_user_model

from . import models


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()

    username = factory.Sequence(lambda n: f"user{n}")


class AccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Account

    name = factory.Sequence(lambda n: f"account {n}")


class TagFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Tag

    name = factory.Sequence(lambda n: f"tag{n}")


class ItemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Item

    account = factory.SubFactory(AccountFactory)
    sku = factory.Sequence(lambda n: f"SKU-{n:05d}")
    ref = factory.Sequence(lambda n: f"ref-{n}")
    name = factory.Sequence(lambda n: f"item {n}")
    price = "9.99"
    quantity = 1


class DocumentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Document

    title = factory.Sequence(lambda n: f"doc {n}")
    version = 1


class ArticleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Article

    slug = factory.Sequence(lambda n: f"article-{n}")
    title = factory.Sequence(lambda n: f"Article {n}")


class SimpleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.SimpleModel

    number = factory.Sequence(lambda n: n)
    contents = factory.Sequence(lambda n: f"c{n}")
