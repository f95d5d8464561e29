"""Tests of source-list parsing (the allowed-cidrs tag and setting)."""

from __future__ import annotations

import pytest

from remediator.model import SourceKind
from remediator.sources import parse_sources


@pytest.mark.parametrize(
    ("raw", "values"),
    [
        ("203.0.113.0/24", ["203.0.113.0/24"]),
        ("203.0.113.0/24,198.51.100.0/24", ["203.0.113.0/24", "198.51.100.0/24"]),
        (
            "203.0.113.0/24 , 2001:db8::/48  pl-0123456789abcdef0",
            ["203.0.113.0/24", "2001:db8::/48", "pl-0123456789abcdef0"],
        ),
        ("198.51.100.7", ["198.51.100.7/32"]),
        ("203.0.113.9/24", ["203.0.113.0/24"]),
        ("203.0.113.0/24 203.0.113.0/24", ["203.0.113.0/24"]),
        ("", []),
    ],
)
def test_sources_are_separated_by_commas_or_spaces_and_spelled_as_networks(raw: str, values: list[str]) -> None:
    sources, errors = parse_sources(raw)
    assert errors == ()
    assert [source.value for source in sources] == values


def test_each_kind_of_source_is_recognised() -> None:
    sources, _ = parse_sources("203.0.113.0/24 2001:db8::/48 pl-0123456789abcdef0")
    assert [source.kind for source in sources] == [SourceKind.IPV4, SourceKind.IPV6, SourceKind.PREFIX_LIST]


@pytest.mark.parametrize("bad", ["office", "300.1.1.1/24", "10.0.0.0/33", "pl-XYZ", "sg-0123456789abcdef0"])
def test_a_part_that_is_not_a_source_is_reported(bad: str) -> None:
    sources, errors = parse_sources(f"203.0.113.0/24,{bad}")
    assert [source.value for source in sources] == ["203.0.113.0/24"]
    assert len(errors) == 1
    assert repr(bad) in errors[0]
