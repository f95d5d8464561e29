"""moto's EC2 as AWS behaves for the prefix-list calls the remediator makes, within one test only.

moto 5 has neither GetManagedPrefixListAssociations nor RestoreManagedPrefixListVersion. Both are added to its EC2
responses (moto dispatches a query action to the EC2Response method of its snake-case name): the associations are
read from the security groups' rules and the route tables' routes that reference the list, as AWS lists them (a
ResourceId and a ResourceOwner, no type), a page of `page_size` at a time with an opaque NextToken; a restore makes a
new version with the entries of the version it names, as AWS does.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from moto.core.responses import ActionResult
from moto.ec2.exceptions import EC2ClientError
from moto.ec2.responses import EC2Response

# A small page lets a test page with few groups (the remediator asks for 255, AWS's most; the least is 5). A test
# sets its own with `with_prefix_list_calls(monkeypatch, page_size=...)`.
DEFAULT_PAGE_SIZE = 2


def not_found(prefix_list_id: str) -> EC2ClientError:
    """AWS's answer for a prefix list id it does not know (moto serialises only errors of its own modules)."""
    return EC2ClientError("InvalidPrefixListID.NotFound", f"The prefix list ID '{prefix_list_id}' does not exist")


def associated(backend: Any, prefix_list_id: str) -> Iterator[dict[str, str]]:
    """The resources that reference the list: security groups by their rules, route tables by their routes."""
    for groups in backend.groups.values():
        for group in groups.values():
            rules = (*group.ingress_rules, *group.egress_rules)
            if any(rule.prefix_list_id == prefix_list_id for rule in rules):
                yield {"ResourceId": group.id, "ResourceOwner": group.owner_id}
    for table in backend.route_tables.values():
        if any(route.destination_prefix_list_id == prefix_list_id for route in table.routes):
            yield {"ResourceId": table.id, "ResourceOwner": backend.account_id}


def with_prefix_list_calls(monkeypatch: pytest.MonkeyPatch, *, page_size: int = DEFAULT_PAGE_SIZE) -> list[int]:
    """Add the two calls to moto for this test; returns the list of the page sizes served, one per call."""
    served: list[int] = []

    def get_managed_prefix_list_associations(self: Any) -> ActionResult:
        prefix_list_id = self._get_param("PrefixListId")
        if prefix_list_id not in self.ec2_backend.managed_prefix_lists:
            raise not_found(prefix_list_id)
        found = sorted(associated(self.ec2_backend, prefix_list_id), key=lambda item: item["ResourceId"])
        start = int(self._get_param("NextToken") or 0)
        # A page may hold fewer than MaxResults asks for, as AWS's may: at most `page_size` here.
        size = min(int(self._get_param("MaxResults") or page_size), page_size)
        page = found[start : start + size]
        served.append(len(page))
        result: dict[str, Any] = {"PrefixListAssociations": page}
        if start + size < len(found):
            result["NextToken"] = str(start + size)
        return ActionResult(result)

    def restore_managed_prefix_list_version(self: Any) -> ActionResult:
        prefix_list_id = self._get_param("PrefixListId")
        prefix_list = self.ec2_backend.managed_prefix_lists.get(prefix_list_id)
        if prefix_list is None:
            raise not_found(prefix_list_id)
        previous = int(self._get_param("PreviousVersion"))
        prefix_list.version += 1
        prefix_list.entries[prefix_list.version] = list(prefix_list.entries.get(previous, []))
        prefix_list.state = "restore-complete"
        return ActionResult({"PrefixList": prefix_list})

    monkeypatch.setattr(
        EC2Response, "get_managed_prefix_list_associations", get_managed_prefix_list_associations, raising=False
    )
    monkeypatch.setattr(
        EC2Response, "restore_managed_prefix_list_version", restore_managed_prefix_list_version, raising=False
    )
    return served
