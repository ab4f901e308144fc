"""System checks for the ``REST_FRAMEWORK_BULK`` setting.

Their ids are ``rest_framework_bulk.E0xx`` and ``W0xx``, numbered in order
with no gaps; the job settings' checks, ``E1xx`` and ``W1xx``, are in
:mod:`rest_framework_bulk.jobs.checks`. docs/ref/settings.rst lists every id.
"""

from __future__ import annotations

from django.conf import settings
from django.core import checks

from .settings import DEFAULTS, RENAMED_SETTINGS

POSITIVE_INTEGERS = (
    "MAX_ITEMS",
    "BATCH_SIZE",
    "RETRIEVE_ASYNC_THRESHOLD",
    "ASYNC_THRESHOLD",
    "CSV_MAX_FILE_SIZE",
    "JOB_RETENTION",
    "JOB_MAX_ERRORS",
    "JOB_MAX_IDS",
    "JOB_STATUS_MAX_IDS",
    "JOB_BATCH_SIZE",
    "JOB_MAX_ATTEMPTS",
    "IDEMPOTENCY_KEY_TTL",
)
POSITIVE_NUMBERS = ("JOB_HEARTBEAT_INTERVAL", "JOB_STALE_AFTER", "MAX_WAIT")
BOOLEANS = ("LOCK_ROWS", "ALLOW_LENIENT")


@checks.register()
def check_settings(app_configs=None, **kwargs):
    user_settings = getattr(settings, "REST_FRAMEWORK_BULK", {})
    if not isinstance(user_settings, dict):
        return [
            checks.Error(
                "REST_FRAMEWORK_BULK must be a dict.",
                hint="Set REST_FRAMEWORK_BULK = {...} with the keys listed in the settings reference.",
                id="rest_framework_bulk.E001",
            )
        ]
    errors = []
    for key in user_settings:
        if key not in DEFAULTS and key not in RENAMED_SETTINGS:
            errors.append(
                checks.Error(
                    f"REST_FRAMEWORK_BULK has an unknown key {key!r}.",
                    hint=f"Known keys: {', '.join(sorted(DEFAULTS))}.",
                    id="rest_framework_bulk.E002",
                )
            )
    for key in POSITIVE_INTEGERS:
        value = user_settings.get(key, DEFAULTS[key])
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            errors.append(
                checks.Error(
                    f"REST_FRAMEWORK_BULK[{key!r}] must be a positive integer, not {value!r}.",
                    hint=f"The default is {DEFAULTS[key]!r}.",
                    id="rest_framework_bulk.E003",
                )
            )
    for key in POSITIVE_NUMBERS:
        value = user_settings.get(key, DEFAULTS[key])
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            errors.append(
                checks.Error(
                    f"REST_FRAMEWORK_BULK[{key!r}] must be a positive number of seconds, not {value!r}.",
                    hint=f"The default is {DEFAULTS[key]!r}.",
                    id="rest_framework_bulk.E003",
                )
            )
    for key in BOOLEANS:
        value = user_settings.get(key, DEFAULTS[key])
        if not isinstance(value, bool):
            errors.append(
                checks.Error(
                    f"REST_FRAMEWORK_BULK[{key!r}] must be True or False, not {value!r}.",
                    hint=f"The default is {DEFAULTS[key]!r}.",
                    id="rest_framework_bulk.E004",
                )
            )
    batch, limit = (
        user_settings.get("JOB_BATCH_SIZE", DEFAULTS["JOB_BATCH_SIZE"]),
        user_settings.get("MAX_ITEMS", DEFAULTS["MAX_ITEMS"]),
    )
    if isinstance(batch, int) and isinstance(limit, int) and 0 < limit < batch:
        errors.append(
            checks.Error(
                f"REST_FRAMEWORK_BULK['JOB_BATCH_SIZE'] ({batch}) is larger than MAX_ITEMS ({limit}): every job batch would be refused.",
                hint="Set JOB_BATCH_SIZE to at most MAX_ITEMS.",
                id="rest_framework_bulk.E007",
            )
        )
    if user_settings.get("SAVE_PER_ITEM") not in (None, True, False):
        errors.append(
            checks.Error(
                "REST_FRAMEWORK_BULK['SAVE_PER_ITEM'] must be None, True or False.",
                hint="None saves item by item only for models that need it (custom save(), signals).",
                id="rest_framework_bulk.E005",
            )
        )
    if not isinstance(user_settings.get("CSV_NULL_VALUE", DEFAULTS["CSV_NULL_VALUE"]), str):
        errors.append(
            checks.Error(
                "REST_FRAMEWORK_BULK['CSV_NULL_VALUE'] must be a string.",
                hint='The default is "#N/A".',
                id="rest_framework_bulk.E006",
            )
        )
    return errors


@checks.register()
def check_renamed_settings(app_configs=None, **kwargs):
    user_settings = getattr(settings, "REST_FRAMEWORK_BULK", {})
    if not isinstance(user_settings, dict):
        return []
    warnings = []
    for old, new in RENAMED_SETTINGS.items():
        if old not in user_settings:
            continue
        if new in user_settings:
            message = (
                f"REST_FRAMEWORK_BULK[{old!r}] is ignored: it is now {new!r}, which is set too."
            )
            hint = f"Remove {old!r}."
        else:
            message = f"REST_FRAMEWORK_BULK[{old!r}] is deprecated: the setting is now {new!r}."
            hint = f"Rename {old!r} to {new!r}; the value stays the same."
        warnings.append(checks.Warning(message, hint=hint, id="rest_framework_bulk.W001"))
    return warnings
