"""
The browsable API in a real browser: bulk writes from its forms, as a
person would send them.
"""

from __future__ import annotations

import json

import pytest

from rest_framework_bulk.jobs.models import BulkJob
from rest_framework_bulk.jobs.runners import stop_pool
from tests.factories import ItemFactory
from tests.jobs.support import JOB_SETTINGS, wait_until
from tests.models import Item

from .conftest import log_in


def response_info(page) -> str:
    return page.locator(".response-info").inner_text()


def test_bulk_patch_from_the_prefilled_raw_form(page, user, account):
    first, second, third = ItemFactory.create_batch(3, account=account)
    log_in(page, user, "/api/items/")

    # Raw data is shown for POST and for PUT/PATCH without clicking a tab,
    # and PUT/PATCH has no HTML form that could only be refused.
    assert page.locator("#post-generic-content-form textarea").is_visible()
    assert not page.locator("#post-object-form").is_visible()
    assert page.locator("#put-object-form").count() == 0
    textarea = page.locator("#put-generic-content-form textarea")
    assert textarea.is_visible()

    # The example is a list naming the first object on the page.
    example = json.loads(textarea.input_value())
    assert isinstance(example, list) and len(example) == 1
    assert example[0]["id"] == first.pk
    assert example[0]["sku"] == first.sku

    example[0]["name"] = "Renamed in the browser"
    example.append({"id": third.pk, "quantity": 42})
    textarea.fill(json.dumps(example))
    page.click("#put-generic-content-form button[data-method=PATCH]")

    page.wait_for_selector(".request-info >> text=PATCH")
    info = response_info(page)
    assert "HTTP 200 OK" in info
    assert "Renamed in the browser" in info
    first.refresh_from_db()
    second.refresh_from_db()
    third.refresh_from_db()
    assert first.name == "Renamed in the browser"
    assert third.quantity == 42
    assert second.quantity == 1


def test_a_bulk_put_that_fails_shows_the_item_errors(page, user, account):
    item = ItemFactory(account=account, price="9.99")
    log_in(page, user, "/api/items/")
    textarea = page.locator("#put-generic-content-form textarea")
    example = json.loads(textarea.input_value())
    example[0]["price"] = "not a price"
    textarea.fill(json.dumps(example))
    page.click("#put-generic-content-form button:has-text('PUT')")

    page.wait_for_selector(".request-info >> text=PUT")
    info = response_info(page)
    assert "HTTP 400 Bad Request" in info
    assert '"index": 0' in info
    item.refresh_from_db()
    assert str(item.price) == "9.99"


CSV = (
    "account,sku,ref,name,price,quantity\n"
    "{account},CSV-1,r1,Kettle,24.90,5\n"
    "{account},CSV-2,r2,Teapot,not a price,8\n"
    "{account},CSV-3,r3,Mug,7.00,40\n"
)


def upload(page, content: str, *, method: str = "POST", lenient=False, dry_run=False) -> None:
    page.set_input_files(
        "#bulk-upload-file",
        files=[{"name": "items.csv", "mimeType": "text/csv", "buffer": content.encode()}],
    )
    if lenient:
        page.check("#bulk-upload-form input[name=lenient]")
    if dry_run:
        page.check("#bulk-upload-form input[name=dry_run]")
    page.click(f"#bulk-upload-form button[data-bulk-method={method}]")


def test_csv_upload_on_the_bulk_endpoint_shows_each_row(page, user, account):
    log_in(page, user, "/v2/items/bulk/")
    options = page.locator("#post-generic-content-form select option").all_inner_texts()
    assert "text/csv" in options
    assert page.locator("#post-object-form").count() == 0

    upload(page, CSV.format(account=account.pk), lenient=True)

    page.wait_for_selector("#bulk-result")
    assert "HTTP 207 Multi-Status" in response_info(page)
    rows = page.locator("#bulk-result tbody tr")
    assert rows.count() == 3
    statuses = [rows.nth(index).locator("td").nth(2).inner_text() for index in range(3)]
    assert statuses[0] == statuses[2] == "created"
    assert "invalid" in rows.nth(1).inner_text()
    # The CSV line of the bad row (the header is line 1).
    assert rows.nth(1).locator("td").nth(1).inner_text() == "3"
    assert sorted(Item.objects.values_list("sku", flat=True)) == ["CSV-1", "CSV-3"]


def test_csv_upload_dry_run_writes_nothing(page, user, account):
    item = ItemFactory(account=account, quantity=1)
    log_in(page, user, "/v2/items/bulk/")
    upload(page, f"id,quantity\n{item.pk},99\n", method="PATCH", dry_run=True)

    page.wait_for_selector("#bulk-result")
    assert "Dry run" in page.locator("#bulk-result").inner_text()
    assert "HTTP 200 OK" in response_info(page)
    item.refresh_from_db()
    assert item.quantity == 1


def test_raw_form_sends_csv(page, user, account):
    item = ItemFactory(account=account, quantity=1)
    log_in(page, user, "/v2/items/bulk/")
    form = page.locator("#put-generic-content-form")
    form.locator("select").select_option("text/csv")
    # Choosing the media type swapped the example for the same rows in CSV.
    assert form.locator("textarea").input_value().startswith("id,")
    form.locator("textarea").fill(f"id,quantity\n{item.pk},12\n")
    form.locator("button[data-method=PATCH]").click()

    page.wait_for_selector("#bulk-result")
    assert "HTTP 200 OK" in response_info(page)
    item.refresh_from_db()
    assert item.quantity == 12


@pytest.fixture
def jobs(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    settings.REST_FRAMEWORK_BULK = {**JOB_SETTINGS, "ASYNC_THRESHOLD": 5}
    yield
    wait_until(lambda: not BulkJob.objects.running().exists(), message="the job to end")
    stop_pool()


def test_csv_upload_above_the_threshold_runs_as_a_job(page, user, account, jobs):
    lines = ["account,sku,ref,name,price,quantity"]
    lines += [f"{account.pk},JOB-{n:02d},ref-{n},Item {n},1.00,{n}" for n in range(12)]
    lines.append(f"{account.pk},JOB-BAD,ref-bad,Bad,not a price,1")
    log_in(page, user, "/v2/items/bulk/")

    upload(page, "\n".join(lines) + "\n", lenient=True)

    page.wait_for_selector("#bulk-job")
    assert "HTTP 202 Accepted" in response_info(page)
    page.wait_for_selector("#bulk-job[data-finished=true]", timeout=30_000)
    job_panel = page.locator("#bulk-job")
    assert job_panel.locator("[data-job=state]").inner_text() == "SUCCESS"
    assert job_panel.locator("[data-job=processed]").inner_text() == "13"
    assert job_panel.locator("[data-job=total]").inner_text() == "13"
    assert Item.objects.filter(sku__startswith="JOB-").count() == 12

    successful = job_panel.locator("[data-kind=successful] a", has_text="CSV")
    failed = job_panel.locator("[data-kind=failed] a", has_text="JSON")
    answer = page.request.get(successful.get_attribute("href"))
    assert answer.status == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert answer.text().count("\n") == 13  # the header and 12 rows
    answer = page.request.get(failed.get_attribute("href"))
    assert answer.status == 200
    [failure] = [json.loads(line) for line in answer.text().splitlines()]
    assert failure["index"] == 12

    # The job's own page shows the same, rendered by the server.
    page.click("#bulk-job .panel-heading a")
    page.wait_for_selector("#bulk-job[data-finished=true]")
    assert "HTTP 200 OK" in response_info(page)
    assert page.locator("#bulk-job [data-kind=failed]").count() == 1
