"""The EventBridge pattern of the CloudTrail rule, and an evaluator for the subset of pattern syntax it uses."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from remediator.event_names import CLOUDTRAIL_DETAIL_TYPE, DELIVERED_EVENTS

# Only successful calls: a failed call changed nothing, so it must not cost an invocation.
CLOUDTRAIL_PATTERN: dict[str, Any] = {
    "source": ["aws.ec2"],
    "detail-type": [CLOUDTRAIL_DETAIL_TYPE],
    "detail": {
        "eventName": list(DELIVERED_EVENTS),
        "errorCode": [{"exists": False}],
    },
}

_MISSING = object()


class UnsupportedPatternError(ValueError):
    """The pattern uses EventBridge syntax this evaluator does not implement."""


def matches(pattern: Mapping[str, Any], event: Mapping[str, Any]) -> bool:
    """Whether EventBridge would deliver `event` to a rule with `pattern`.

    Implements exact values (strings, numbers, booleans, null) and `exists`, with EventBridge's rules:
    every field named in the pattern must match (AND), any value listed for a field may match (OR), an
    array in the event matches if any of its elements does, and `exists` is about the presence of a
    leaf: a field present with the value null exists, and an object in place of a leaf does not.
    """
    for key, condition in pattern.items():
        value = event.get(key, _MISSING) if isinstance(event, Mapping) else _MISSING
        if isinstance(condition, Mapping):
            # A nested pattern: the event needs an object here to match anything inside it.
            if not isinstance(value, Mapping) or not matches(condition, value):
                return False
        elif isinstance(condition, list):
            if not _field_matches(condition, value):
                return False
        else:
            raise UnsupportedPatternError(f"pattern field {key!r} must be an object or a list: {condition!r}")
    return True


def _field_matches(conditions: Sequence[Any], value: object) -> bool:
    """Whether one event field (or its absence, `_MISSING`) satisfies any of the listed conditions."""
    leaves = _leaves(value)
    for condition in conditions:
        if isinstance(condition, Mapping):
            if set(condition) != {"exists"} or not isinstance(condition["exists"], bool):
                raise UnsupportedPatternError(f"unsupported matcher {dict(condition)!r}: only exists")
            if condition["exists"] == bool(leaves):
                return True
        elif isinstance(condition, str | int | float | bool) or condition is None:
            if any(_same_value(condition, leaf) for leaf in leaves):
                return True
        else:
            raise UnsupportedPatternError(f"unsupported pattern value {condition!r}")
    return False


def _leaves(value: object) -> list[object]:
    """The leaf values an event field holds: none when missing or an object, each element of an array."""
    if value is _MISSING or isinstance(value, Mapping):
        return []
    if isinstance(value, list):
        return [item for item in value if not isinstance(item, Mapping | list)]
    return [value]


def _same_value(expected: object, actual: object) -> bool:
    """JSON equality: true is not 1, and a number never equals a string that spells it."""
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(expected) is type(actual) and expected == actual
    if isinstance(expected, int | float) and isinstance(actual, int | float):
        return float(expected) == float(actual)
    return type(expected) is type(actual) and expected == actual
