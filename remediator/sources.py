"""Parsing of source lists (CIDRs and prefix-list ids) as the allowed-cidrs tag and setting spell them."""

from __future__ import annotations

import ipaddress
import re

from remediator.model import Source, SourceKind

PREFIX_LIST_ID = re.compile(r"^pl-[0-9a-f]{8,17}$")


def parse_source(text: str) -> Source | None:
    """One source: an IPv4 or IPv6 CIDR (host bits allowed) or a managed prefix-list id, else None."""
    if PREFIX_LIST_ID.match(text):
        return Source(kind=SourceKind.PREFIX_LIST, value=text)
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None
    # Spelled as its network (a bare address is one host), the only form AWS accepts when authorizing.
    kind = SourceKind.IPV4 if network.version == 4 else SourceKind.IPV6
    return Source(kind=kind, value=str(network))


def parse_sources(raw: str) -> tuple[tuple[Source, ...], tuple[str, ...]]:
    """Sources separated by commas and/or spaces, and one error message per part that is not one."""
    sources: list[Source] = []
    errors: list[str] = []
    for part in re.split(r"[\s,]+", raw.strip()):
        if not part:
            continue
        source = parse_source(part)
        if source is None:
            errors.append(f"{part!r} is neither a CIDR nor a prefix-list id (pl-…)")
        elif source not in sources:
            sources.append(source)
    return tuple(sources), tuple(errors)
