"""
Compiled validation and rendering for ``BulkListSerializer``.

DRF validates an item by walking the child's fields and, for each one,
dispatching through ``get_value()``, ``run_validation()``,
``validate_empty_values()``, ``to_internal_value()`` and
``run_validators()``; it renders an object through ``get_attribute()`` and
``to_representation()`` per field. Most of that time goes to the dispatch,
not to the conversions. Here the child's fields are read once per list (a
batch of items, or the objects of one response) into a list of entries, and
each item runs through them in one loop.

The result is DRF's, to the type and the error code, because anything the
loop does not handle itself is handed to DRF's own code:

* a serializer whose class overrides any of the methods the loop stands in
  for (``run_validation()``, ``to_internal_value()``, ``to_representation()``,
  ``run_validators()``, ``fields`` ...) is left to DRF entirely;
* a field whose class is not one of DRF's standard ones (a subclass counts
  as unknown), or that has a method replaced on the instance, is run through
  its own ``get_value()`` and ``run_validation()`` (``get_attribute()`` and
  ``to_representation()`` when rendering), inside the loop;
* within a standard field, only the common cases are done inline (an ``int``
  for an ``IntegerField``, a ``str`` for a ``CharField`` ...); other input
  goes to the field's ``to_internal_value()``, and any input that a cheap
  check cannot clear of the field's length, range, null-character or regex
  validators goes through the field's ``run_validation()`` from the start,
  so that the errors are the field's own.

``validate_<field>()``, field validators that the loop does not know
(``UniqueValidator`` and the engine's batched stand-ins among them), the
serializer's validators and ``validate()`` all run, in DRF's order.

The entries are read from the child's bound fields at the start of each
list, after :class:`~rest_framework_bulk.validation.BatchValidation` has
set up the batch: they pick up its stand-in validators and relation lookups,
and fields that ``get_fields()`` builds per request. What is decided per
class (whether a serializer or field class may be compiled at all) is
cached per class. Set ``COMPILED_SERIALIZERS`` to ``False`` to turn it off.
"""

from __future__ import annotations

import decimal
import math
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any
from weakref import WeakKeyDictionary

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import (
    MaxLengthValidator,
    MaxValueValidator,
    MinLengthValidator,
    MinValueValidator,
    ProhibitNullCharactersValidator,
    RegexValidator,
)
from django.db import models
from rest_framework import fields, relations, serializers
from rest_framework.exceptions import ValidationError
from rest_framework.fields import SkipField, empty, get_error_detail
from rest_framework.relations import PKOnlyObject
from rest_framework.settings import api_settings as drf_settings
from rest_framework.validators import ProhibitSurrogateCharactersValidator

from .csv import CSVRow
from .settings import api_settings

__all__ = ["child_renderer", "child_validator", "compilable"]

# -- what may be compiled ------------------------------------------------------

_BigIntegerField = getattr(fields, "BigIntegerField", None)

_STRING_FIELDS = (fields.CharField, fields.EmailField, fields.SlugField)
_FIELD_KINDS: dict[type, str] = {
    fields.CharField: "str",
    fields.EmailField: "str",
    fields.SlugField: "str",
    fields.IntegerField: "int",
    fields.FloatField: "float",
    fields.DecimalField: "decimal",
    fields.BooleanField: "bool",
    fields.ChoiceField: "other",
    fields.DateField: "other",
    fields.DateTimeField: "other",
    fields.TimeField: "other",
    fields.UUIDField: "other",
    fields.JSONField: "other",
    relations.PrimaryKeyRelatedField: "related",
    relations.SlugRelatedField: "related",
}
if _BigIntegerField is not None:  # DRF 3.16 and later
    _FIELD_KINDS[_BigIntegerField] = "bigint"

#: Methods of a field that, replaced on the instance, make it run DRF's way.
_FIELD_METHODS = (
    "get_value",
    "run_validation",
    "validate_empty_values",
    "run_validators",
    "get_default",
    "get_attribute",
    "to_representation",
    "use_pk_only_optimization",
    "enforce_timezone",
)

#: The serializer methods the loop stands in for, and the classes whose own
#: versions of them it reproduces.
_SERIALIZER_METHODS = (
    "run_validation",
    "to_internal_value",
    "validate_empty_values",
    "run_validators",
    "to_representation",
    "set_value",
    "_read_only_defaults",
    "_writable_fields",
    "_readable_fields",
    "fields",
)


def _known_serializer_classes() -> frozenset:
    from .serializers import BulkSerializerMixin

    return frozenset(
        {
            fields.Field,
            serializers.BaseSerializer,
            serializers.Serializer,
            serializers.ModelSerializer,
            serializers.HyperlinkedModelSerializer,
            BulkSerializerMixin,
        }
    )


_class_cache: WeakKeyDictionary = WeakKeyDictionary()


def compilable(serializer_class: type) -> bool:
    """Whether the loop reproduces ``serializer_class``'s validation and rendering.

    It does when none of the methods it stands in for is defined by a class
    other than DRF's ``Serializer``, ``ModelSerializer`` and their bases, and
    ``BulkSerializerMixin``.
    """
    try:
        return _class_cache[serializer_class]
    except KeyError:
        pass
    known = _known_serializer_classes()
    result = True
    for name in _SERIALIZER_METHODS:
        for klass in serializer_class.__mro__:
            if name in klass.__dict__ and klass not in known:
                result = False
                break
        if not result:
            break
    _class_cache[serializer_class] = result
    return result


def _uses_bulk_lookup(serializer_class: type) -> bool:
    from .serializers import BulkSerializerMixin

    return issubclass(serializer_class, BulkSerializerMixin)


def _instance_overrides(obj, names) -> bool:
    return any(name in vars(obj) for name in names)


def _probe_dict_types() -> tuple[type, type]:
    # DRF 3.14 builds ``OrderedDict``s, later versions plain dicts: ask DRF.
    probe: serializers.Serializer = serializers.Serializer()
    return type(probe.to_internal_value({})), type(probe.to_representation(None))


_dict_types: tuple[type, type] | None = None


def _dicts() -> tuple[type, type]:
    global _dict_types
    if _dict_types is None:
        _dict_types = _probe_dict_types()
    return _dict_types


def _enabled(list_serializer) -> bool:
    if not api_settings.COMPILED_SERIALIZERS:
        return False
    child = list_serializer.child
    if not isinstance(child, serializers.Serializer) or child.read_only:
        return False
    if not compilable(type(child)):
        return False
    # ``fields`` is a cached property: its value sits in the instance's dict.
    return not _instance_overrides(child, _SERIALIZER_METHODS[:-1])


# -- validators --------------------------------------------------------------

_SURROGATES = re.compile("[\ud800-\udfff]")
# Below this, an int's str() needs no more digits than Python allows.
_SMALL_INT = 10**18


def _is_number(value) -> bool:
    kind = type(value)
    return kind is int or kind is float or kind is Decimal


def _predicate(validator) -> Callable[[Any], bool] | None:
    """A check that is true only where ``validator`` would pass, or ``None``.

    False does not mean the validator fails: the item then goes through the
    field's own ``run_validation()``, which says what is wrong.
    """
    kind = type(validator)
    if kind is ProhibitNullCharactersValidator:
        return lambda value: type(value) is str and "\x00" not in value
    if kind is ProhibitSurrogateCharactersValidator:
        search = _SURROGATES.search
        return lambda value: type(value) is str and (value.isascii() or search(value) is None)
    if kind in (MaxLengthValidator, MinLengthValidator):
        limit = validator.limit_value
        if type(limit) is not int:
            return None
        if kind is MaxLengthValidator:
            return lambda value: type(value) is str and len(value) <= limit
        return lambda value: type(value) is str and len(value) >= limit
    if kind in (MaxValueValidator, MinValueValidator):
        limit = validator.limit_value
        if not _is_number(limit):
            return None
        if kind is MaxValueValidator:
            return lambda value: _is_number(value) and value <= limit
        return lambda value: _is_number(value) and value >= limit
    if kind is RegexValidator:
        search = validator.regex.search
        inverse = bool(validator.inverse_match)
        return lambda value: type(value) is str and (search(value) is not None) is not inverse
    return None


def _split_validators(field_validators) -> tuple[list, list]:
    """The field's validators as (checks, others): see ``_predicate()``."""
    checks = []
    others = []
    for validator in field_validators:
        check = _predicate(validator)
        if check is not None:
            checks.append(check)
        else:
            others.append((validator, bool(getattr(validator, "requires_context", False))))
    return checks, others


def _run_validators(validators: list, value, field) -> None:
    """DRF's ``Field.run_validators()`` over ``validators``."""
    errors = []
    for validator, requires_context in validators:
        try:
            if requires_context:
                validator(value, field)
            else:
                validator(value)
        except ValidationError as exc:
            if isinstance(exc.detail, dict):
                raise
            errors.extend(exc.detail)
        except DjangoValidationError as exc:
            errors.extend(get_error_detail(exc))
    if errors:
        raise ValidationError(errors)


# -- validating one field ------------------------------------------------------


def _field_runner(field, partial: bool) -> Callable | None:
    """``run(primitive) -> value`` for ``field``, as its ``run_validation()``.

    ``None`` when the field is to run its own ``run_validation()``.
    """
    kind = _FIELD_KINDS.get(type(field))
    if kind is None or field.source == "*" or _instance_overrides(field, _FIELD_METHODS):
        return None
    slow = field.run_validation
    convert = field.to_internal_value
    inline = "to_internal_value" not in vars(field)
    checks, others = _split_validators(field.validators)

    required = field.required
    default = field.default
    allow_null = field.allow_null

    def missing():
        if partial:
            raise SkipField()
        if required:
            return slow(empty)
        if default is empty:
            raise SkipField()
        if callable(default):
            return field.get_default()
        return default

    def finish(value, data):
        for check in checks:
            if not check(value):
                return slow(data)
        if others:
            _run_validators(others, value, field)
        return value

    if kind == "str":
        trim = field.trim_whitespace
        allow_blank = field.allow_blank

        def run(data):
            if type(data) is str:
                value = data.strip() if trim else data
                if value == "":
                    return "" if allow_blank else slow(data)
                return finish(value, data)
            if data is empty:
                return missing()
            if data is None and allow_null:
                return None
            return slow(data)

        return run

    if kind == "int" or kind == "bigint":

        def run(data):
            if type(data) is int and inline and -_SMALL_INT < data < _SMALL_INT:
                return finish(data, data)
            if data is empty:
                return missing()
            if data is None:
                return None if allow_null else slow(data)
            return finish(convert(data), data)

        return run

    if kind == "float":

        def run(data):
            if type(data) is float and inline and math.isfinite(data):
                return finish(data, data)
            if data is empty:
                return missing()
            if data is None:
                return None if allow_null else slow(data)
            return finish(convert(data), data)

        return run

    if kind == "bool":
        # Booleans pass as they are only with DRF's own sets of true and false values.
        plain = inline and not _instance_overrides(field, ("TRUE_VALUES", "FALSE_VALUES"))

        def run(data):
            if (data is True or data is False) and plain:
                return finish(data, data)
            if data is empty:
                return missing()
            if data is None:
                return None if allow_null else slow(data)
            return finish(convert(data), data)

        return run

    if kind == "decimal":
        exact = _exact_decimal(field) if inline else None

        def run(data):
            if data is empty:
                return missing()
            if data is None:
                return None if allow_null else slow(data)
            kind = type(data)
            if kind is str:
                if exact is not None:
                    value = exact(data)
                    if value is not None:
                        return finish(value, data)
                # DecimalField.validate_empty_values(): blank is null when allowed.
                if allow_null and data.strip() == "":
                    return None
            elif kind is not int and kind is not float:
                return slow(data)
            return finish(convert(data), data)

        return run

    if kind == "related":

        def run(data):
            if data is empty:
                return missing()
            if data is None or data == "":
                # RelatedField.run_validation() reads "" as None.
                return None if allow_null else slow(data)
            return finish(convert(data), data)

        return run

    def run_any(data):
        if data is empty:
            return missing()
        if data is None:
            return None if allow_null else slow(data)
        return finish(convert(data), data)

    return run_any


def _exact_decimal(field) -> Callable[[str], Decimal | None] | None:
    """``DecimalField.to_internal_value()`` for text that fits the field as written.

    Text of at most ``max_digits - decimal_places`` digits before the point
    and ``decimal_places`` after it passes DRF's precision checks, and
    quantizing it only pads zeros: no rounding, whatever the context. Other
    text gives ``None`` and goes to the field.
    """
    places = field.decimal_places
    digits = field.max_digits
    if field.localize or places is None or digits is None or places < 1:
        return None
    if _instance_overrides(field, ("validate_precision", "quantize")):
        return None
    whole = digits - places
    if whole < 1 or digits + 2 > field.MAX_STRING_LENGTH:
        return None
    match = re.compile(rf"-?[0-9]{{1,{whole}}}(?:\.[0-9]{{1,{places}}})?").fullmatch
    exponent = Decimal(1).scaleb(-places)
    context = decimal.Context(prec=digits)

    def exact(data: str) -> Decimal | None:
        if match(data) is None:
            return None
        return Decimal(data).quantize(exponent, context=context)

    return exact


# -- validating one item -------------------------------------------------------


def child_validator(list_serializer) -> Callable[[Any], Any]:
    """What validates one item for ``list_serializer``: compiled, or its own.

    Call it after the batch is set up (validators and relation lookups in
    place) and before the first item.
    """
    own = list_serializer.run_child_validation
    if type(list_serializer).run_child_validation is not _base_run_child_validation():
        return own
    if not _enabled(list_serializer):
        return own
    return _compile_validation(list_serializer.child)


def _base_run_child_validation():
    from .serializers import BulkListSerializer

    return BulkListSerializer.run_child_validation


def _compile_validation(child) -> Callable[[Any], Any]:
    ret_type, _ = _dicts()
    partial = bool(getattr(child.root, "partial", False))
    # DRF 3.14 and 3.15 have the module-level set_value(); later ones a method.
    set_value = getattr(child, "set_value", None) or fields.set_value  # type: ignore[attr-defined]
    entries = []
    for name, field in child.fields.items():
        if field.read_only:
            continue
        run = _field_runner(field, partial)
        fast_get = run is not None
        if run is None:
            run = field.run_validation
        attrs = field.source_attrs
        entries.append(
            (
                name,
                fast_get,
                field.get_value,
                run,
                getattr(child, "validate_" + name, None),
                attrs[0] if len(attrs) == 1 else None,
                attrs,
            )
        )
    read_only_defaults = [
        field
        for field in child.fields.values()
        if field.read_only
        and field.default != empty
        and field.source != "*"
        and "." not in field.source
    ]
    serializer_validators = child.validators
    uses_lookup = _uses_bulk_lookup(type(child))
    validate = child.validate
    own = child.run_validation
    as_serializer_error = serializers.as_serializer_error
    run_validators = fields.Field.run_validators

    def validate_item(data):
        # A CSV row is a plain dict with a line number; anything else that
        # is not a dict (a QueryDict, a list) takes DRF's own path.
        if type(data) is not dict and type(data) is not CSVRow:
            return own(data)
        ret = ret_type()
        errors = None
        for name, fast_get, get_value, run, validate_method, key, attrs in entries:
            primitive = data.get(name, empty) if fast_get else get_value(data)
            try:
                value = run(primitive)
                if validate_method is not None:
                    value = validate_method(value)
            except ValidationError as exc:
                if errors is None:
                    errors = ret_type()
                errors[name] = exc.detail
            except DjangoValidationError as exc:
                if errors is None:
                    errors = ret_type()
                errors[name] = get_error_detail(exc)
            except SkipField:
                pass
            else:
                if key is not None:
                    ret[key] = value
                else:
                    set_value(ret, attrs, value)
        if errors:
            raise ValidationError(errors)
        if uses_lookup:
            lookup = child._bulk_lookup
            if lookup is not None:
                ret[lookup[0]] = lookup[1]
        try:
            if serializer_validators or read_only_defaults:
                to_validate = ret_type()
                for field in read_only_defaults:
                    try:
                        to_validate[field.source] = field.get_default()
                    except SkipField:
                        continue
                to_validate.update(ret)
                run_validators(child, to_validate)
            value = validate(ret)
            assert value is not None, ".validate() should return the validated data"
        except (ValidationError, DjangoValidationError) as exc:
            raise ValidationError(detail=as_serializer_error(exc)) from None
        return value

    return validate_item


# -- rendering -----------------------------------------------------------------


def _field_renderer(field) -> Callable[[Any], Any]:
    """``render(instance) -> primitive`` for ``field``; raises ``SkipField`` to leave it out."""

    def generic(instance):
        attribute = field.get_attribute(instance)
        check = attribute.pk if isinstance(attribute, PKOnlyObject) else attribute
        if check is None:
            return None
        return field.to_representation(attribute)

    kind = _FIELD_KINDS.get(type(field))
    attrs = field.source_attrs
    if kind is None or len(attrs) != 1 or _instance_overrides(field, _FIELD_METHODS):
        return generic
    attr = attrs[0]

    if type(field) is relations.PrimaryKeyRelatedField:
        if field.pk_field is not None:
            return generic

        def render_pk(instance):
            try:
                value = instance.serializable_value(attr)
            except AttributeError:
                return generic(instance)
            if callable(value):
                return generic(instance)
            return getattr(value, "pk", value)

        return render_pk

    represent = field.to_representation
    if kind == "str":

        def convert(value):
            return value if type(value) is str else str(value)

    elif kind == "int":

        def convert(value):
            return value if type(value) is int else int(value)

    elif kind == "float":

        def convert(value):
            return value if type(value) is float else float(value)

    elif kind == "bool":
        plain = not _instance_overrides(field, ("TRUE_VALUES", "FALSE_VALUES"))

        def convert(value):
            if plain and (value is True or value is False):
                return value
            return represent(value)

    elif kind == "decimal" and _plain_decimal_output(field):
        exponent = -field.decimal_places
        digits = field.max_digits

        def convert(value):
            if type(value) is Decimal:
                shape = value.as_tuple()
                if shape.exponent == exponent and (digits is None or len(shape.digits) <= digits):
                    # Already at the field's precision: quantize() keeps it as it is.
                    return f"{value:f}"
            return represent(value)

    else:
        convert = represent

    def render(instance):
        try:
            value = getattr(instance, attr)
        except Exception:
            # Missing, or a related object that does not exist: DRF decides.
            return generic(instance)
        if callable(value):
            return generic(instance)
        if value is None:
            return None
        return convert(value)

    return render


def _plain_decimal_output(field) -> bool:
    """Whether DRF renders the field's decimals as the text of the quantized value."""
    return bool(
        field.decimal_places is not None
        and getattr(field, "coerce_to_string", drf_settings.COERCE_DECIMAL_TO_STRING)
        and not field.localize
        and not getattr(field, "normalize_output", False)
        and not _instance_overrides(field, ("quantize",))
    )


def child_renderer(list_serializer) -> Callable[[Any], Any]:
    """What renders one object for ``list_serializer``: compiled, or the child's own.

    The fields are read at the first object, as DRF reads them: an empty
    list never builds them.
    """
    child = list_serializer.child
    own = child.to_representation
    if not _enabled(list_serializer):
        return own
    compiled: list[Any] = []

    def render_object(instance):
        if not isinstance(instance, models.Model):
            return own(instance)
        if not compiled:
            compiled.append(_compile_rendering(child))
        return compiled[0](instance)

    return render_object


def _compile_rendering(child) -> Callable[[Any], Any]:
    _, ret_type = _dicts()
    entries = [
        (name, _field_renderer(field))
        for name, field in child.fields.items()
        if not field.write_only
    ]

    def render_object(instance):
        ret = ret_type()
        for name, render in entries:
            try:
                ret[name] = render(instance)
            except SkipField:
                continue
        return ret

    return render_object
