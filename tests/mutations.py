"""Mutations of real events for the property tests: each changes one part of a JSON value."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from typing import Any

from conftest import EVENTS_DIR
from hypothesis import event
from hypothesis import strategies as st

Json = Any

JsonPath = tuple[str | int, ...]

# The real events of tests/events, read once for every property test.
EVENTS: dict[str, Json] = {path.name: json.loads(path.read_text()) for path in sorted(EVENTS_DIR.glob("*.json"))}

# --- Mutations of real events -----------------------------------------------------------------------------

ODD_CHARACTERS = [
    "\x00",
    "\ud800",  # a lone surrogate: json.loads gives one for the escape \ud800
    "\udfff",
    "\u202e",  # right-to-left override
    "\u200b",  # zero-width space
    "\ufeff",
    "\u0301",  # combining accent
    "\u0663",  # Arabic-Indic digit three
    "\U0001d7d8",  # mathematical double-struck zero
    "\n",
    "é",
    "好",
    "😀",
]
# Joined from single characters: st.text() never yields a lone surrogate, and json.loads can.
odd_character = st.characters() | st.sampled_from(ODD_CHARACTERS)
odd_text = st.lists(odd_character, max_size=12).map("".join)
some_odd_text = st.lists(odd_character, min_size=1, max_size=12).map("".join)
interesting_text = st.sampled_from(
    ["", " ", "0.0.0.0/0", "::/0", "-1", "22", "tcp", "all", "items", "sg-0123456789abcdef0", "pl-1234abcd", "null"]
)
json_leaf = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.sampled_from([-1, 0, 22, 3389, 65535, 65536])
    | st.floats()
    | odd_text
    | interesting_text
)
json_value = st.recursive(
    json_leaf,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(odd_text | interesting_text, children, max_size=3)
    ),
    max_leaves=6,
)


def walk(value: Json, path: JsonPath = ()) -> Iterator[tuple[JsonPath, Json]]:
    yield path, value
    if isinstance(value, dict):
        for key, child in value.items():
            yield from walk(child, (*path, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from walk(child, (*path, index))


def parent_of(root: Json, path: JsonPath) -> Json:
    node = root
    for part in path[:-1]:
        node = node[part]
    return node


def replaced(root: Json, path: JsonPath, value: Json) -> Json:
    if not path:
        return value
    parent_of(root, path)[path[-1]] = value
    return root


Mutation = Callable[[st.DrawFn, Json], Json]


def pick(draw: st.DrawFn, root: Json, accept: Callable[[JsonPath, Json], bool]) -> tuple[JsonPath, Json] | None:
    candidates = [(path, node) for path, node in walk(root) if accept(path, node)]
    return draw(st.sampled_from(candidates)) if candidates else None


def delete_key(draw: st.DrawFn, root: Json) -> Json:
    found = pick(draw, root, lambda path, _: bool(path))
    if found is not None:
        del parent_of(root, found[0])[found[0][-1]]
    return root


def retype(draw: st.DrawFn, root: Json) -> Json:
    found = pick(draw, root, lambda _path, _node: True)
    if found is None:
        return root
    return replaced(root, found[0], draw(json_value.filter(lambda new: type(new) is not type(found[1]))))


def truncate(draw: st.DrawFn, root: Json) -> Json:
    found = pick(draw, root, lambda _, node: isinstance(node, str) and bool(node))
    if found is None:
        return root
    path, text = found
    return replaced(root, path, text[: draw(st.integers(0, len(text) - 1))])


def duplicate(draw: st.DrawFn, root: Json) -> Json:
    found = pick(draw, root, lambda _, node: isinstance(node, list) and bool(node))
    if found is None:
        return root
    _, items = found
    item = items[draw(st.integers(0, len(items) - 1))]
    times = draw(st.integers(1, 5) | st.integers(50, 400))
    items.extend(copy.deepcopy(item) for _ in range(times))
    if times >= 50:
        event("a list item repeated 50-400 times")
    return root


def insert_unicode(draw: st.DrawFn, root: Json) -> Json:
    found = pick(draw, root, lambda _, node: isinstance(node, str))
    if found is not None:
        path, text = found
        at = draw(st.integers(0, len(text)))
        return replaced(root, path, text[:at] + draw(some_odd_text) + text[at:])
    return root


def rename_key(draw: st.DrawFn, root: Json) -> Json:
    found = pick(draw, root, lambda path, _: bool(path) and isinstance(path[-1], str))
    if found is not None:
        path, node = found
        parent = parent_of(root, path)
        del parent[path[-1]]
        parent[str(path[-1]) + draw(some_odd_text)] = node
    return root


def flip_number(draw: st.DrawFn, root: Json) -> Json:
    def numeric(_: JsonPath, node: Json) -> bool:
        if isinstance(node, bool):
            return False
        return isinstance(node, int | float) or (isinstance(node, str) and node.strip().lstrip("-").isdigit())

    found = pick(draw, root, numeric)
    if found is None:
        return root
    path, node = found
    # Only ASCII digits reach int(): the check above accepts any Unicode digit.
    if isinstance(node, str):
        return replaced(root, path, int(node) if node.strip().lstrip("-").isascii() else node + "0")
    return replaced(root, path, str(node))


def toggle_envelope(_: st.DrawFn, root: Json) -> Json:
    if isinstance(root, dict) and isinstance(root.get("detail"), dict):
        return root["detail"]
    return {"version": "0", "detail-type": "AWS API Call via CloudTrail", "source": "aws.ec2", "detail": root}


MUTATIONS: dict[str, Mutation] = {
    "delete a key": delete_key,
    "change a type": retype,
    "truncate a string": truncate,
    "duplicate list items": duplicate,
    "insert unicode": insert_unicode,
    "rename a key": rename_key,
    "number to string and back": flip_number,
    "wrap or unwrap the envelope": toggle_envelope,
}


@st.composite
def mutated(draw: st.DrawFn, event: Json, max_mutations: int = 5) -> tuple[Json, tuple[str, ...]]:
    data = copy.deepcopy(event)
    names = draw(st.lists(st.sampled_from(sorted(MUTATIONS)), min_size=1, max_size=max_mutations))
    for name in names:
        data = MUTATIONS[name](draw, data)
    return data, tuple(names)


@st.composite
def mutated_real_events(draw: st.DrawFn) -> tuple[str, Json, tuple[str, ...]]:
    name = draw(st.sampled_from(sorted(EVENTS)))
    data, mutations = draw(mutated(EVENTS[name]))
    return name, data, mutations
