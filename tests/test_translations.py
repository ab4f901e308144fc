"""The messages a client reads, in the language it asks for, and the catalogues behind them."""

from __future__ import annotations

import ast
import gettext
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import translation
from rest_framework.test import APIClient

import rest_framework_bulk
from rest_framework_bulk.exceptions import TooManyItems
from tests.factories import AccountFactory, UserFactory
from tests.models import SimpleModel

LOCALE = Path(rest_framework_bulk.__file__).parent / "locale"
BULK = "/v2/items/bulk/"


@pytest.fixture
def locale_middleware(settings):
    """Django's LocaleMiddleware, which picks the language from ``Accept-Language``."""
    settings.MIDDLEWARE = [
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.middleware.locale.LocaleMiddleware",
        *settings.MIDDLEWARE[1:],
    ]
    yield
    # The middleware leaves the request's language active in the thread.
    translation.deactivate()


@pytest.mark.django_db
def test_an_item_error_is_in_german_with_the_singular(api, locale_middleware):
    items = [{"number": 1, "contents": "a"}, {"number": "x", "contents": "b"}]

    response = api.bulk("post", "/api/simple/", items, HTTP_ACCEPT_LANGUAGE="de")

    assert response.status_code == 400
    assert response["Content-Language"] == "de"
    body = response.json()
    assert body["detail"] == "1 von 2 Elementen wurde abgelehnt; nichts wurde geschrieben."
    # DRF's own messages come in the same language.
    assert body["errors"][0]["detail"] == {"number": ["Eine gültige Ganzzahl ist erforderlich."]}
    assert not SimpleModel.objects.exists()


@pytest.mark.django_db
def test_an_item_error_is_in_german_with_the_plural(api, locale_middleware):
    items = [{"number": "x", "contents": "a"}, {"number": "y", "contents": "b"}]

    response = api.bulk("post", "/api/simple/", items, HTTP_ACCEPT_LANGUAGE="de-DE,de;q=0.9")

    assert response.status_code == 400
    assert response.json()["detail"] == (
        "2 von 2 Elementen wurden abgelehnt; nichts wurde geschrieben."
    )


@pytest.mark.django_db
def test_without_accept_language_the_message_stays_english(api, locale_middleware):
    items = [{"number": 1, "contents": "a"}, {"number": "x", "contents": "b"}]

    response = api.bulk("post", "/api/simple/", items)

    assert response.status_code == 400
    assert response.json()["detail"] == "1 of 2 items was rejected; nothing was written."


@pytest.mark.django_db
def test_a_csv_error_is_in_german(api, locale_middleware):
    response = api.post(
        BULK, data="sku\nA-1,x,y\n", content_type="text/csv", HTTP_ACCEPT_LANGUAGE="de"
    )

    assert response.status_code == 400
    assert response.json()["detail"] == (
        "Zeile 2, Spalte 2: Die Zeile hat 3 Zellen, die Kopfzeile nennt aber 1 Feld."
    )


@pytest.mark.django_db
def test_the_browsable_api_is_in_german(locale_middleware):
    user = UserFactory()
    client = APIClient()
    client.force_authenticate(user)
    account = AccountFactory(owner=user)
    body = f"account,sku,ref,name,price\n{account.pk},A-1,r1,One,1.00\n"
    upload = SimpleUploadedFile("items.csv", body.encode(), content_type="text/csv")

    response = client.post(
        BULK,
        {"file": upload},
        format="multipart",
        HTTP_ACCEPT="text/html",
        HTTP_ACCEPT_LANGUAGE="de",
    )

    assert response.status_code == 201
    html = response.content.decode()
    assert "1 Element: 1 erfolgreich, 0 fehlgeschlagen." in html
    assert 'data-no-file="Wählen Sie zuerst eine Datei."' in html


def test_plural_forms_follow_the_number():
    with translation.override("de"):
        assert TooManyItems(None, 1).detail["detail"] == (
            "Diese Anfrage trifft auf mehr als 1 Element zu; höchstens 1 ist erlaubt."
        )
        assert TooManyItems(None, 50).detail["detail"] == (
            "Diese Anfrage trifft auf mehr als 50 Elemente zu; höchstens 50 sind erlaubt."
        )


# The catalogues ---------------------------------------------------------------


def read_po(path: Path) -> list[dict]:
    """The entries of a .po file: ``msgid``, ``msgid_plural``, ``msgstr`` (a list), ``flags``."""
    entries = []
    for block in path.read_text(encoding="utf-8").strip().split("\n\n"):
        entry: dict = {"msgid_plural": None, "msgstr": [], "flags": []}
        key = None
        for line in block.splitlines():
            if line.startswith("#,"):
                entry["flags"] += [flag.strip() for flag in line[2:].split(",")]
            elif line.startswith("#"):
                continue
            elif line.startswith('"'):
                entry[key][-1] += ast.literal_eval(line)
            else:
                keyword, _, text = line.partition(" ")
                key = "msgstr" if keyword.startswith("msgstr") else keyword
                if key == "msgstr":
                    entry["msgstr"].append(ast.literal_eval(text))
                else:
                    entry[key] = [ast.literal_eval(text)]
        entry["msgid"] = entry["msgid"][0]
        if entry["msgid_plural"]:
            entry["msgid_plural"] = entry["msgid_plural"][0]
        entries.append(entry)
    return entries


CATALOGUES = sorted(LOCALE.glob("*/LC_MESSAGES/django.po"))


def test_there_is_a_german_catalogue():
    assert LOCALE / "de" / "LC_MESSAGES" / "django.po" in CATALOGUES


@pytest.mark.parametrize("po", CATALOGUES, ids=lambda po: po.parts[-3])
def test_every_message_is_translated(po):
    entries = read_po(po)
    header, messages = entries[0], entries[1:]
    assert header["msgid"] == "" and "fuzzy" not in header["flags"]
    assert "Plural-Forms: " in header["msgstr"][0]
    untranslated = [entry["msgid"] for entry in messages if not all(entry["msgstr"])]
    fuzzy = [entry["msgid"] for entry in messages if "fuzzy" in entry["flags"]]
    assert (untranslated, fuzzy) == ([], [])


@pytest.mark.parametrize("po", CATALOGUES, ids=lambda po: po.parts[-3])
def test_the_compiled_catalogue_matches_its_source(po):
    """The .mo is committed (installing needs no gettext): it must be compiled from this .po."""
    with open(po.with_suffix(".mo"), "rb") as handle:
        compiled = gettext.GNUTranslations(handle)
    for entry in read_po(po)[1:]:
        if entry["msgid_plural"]:
            for n in (0, 1, 2, 5, 21):
                assert (
                    compiled.ngettext(entry["msgid"], entry["msgid_plural"], n)
                    == (entry["msgstr"][compiled.plural(n)])
                ), entry["msgid"]
        else:
            assert compiled.gettext(entry["msgid"]) == entry["msgstr"][0], entry["msgid"]
