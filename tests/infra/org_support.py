"""Helpers of the organisation-mode tests: the app built as app.py builds it with org_units, synthesized once."""

from __future__ import annotations

import atexit
import functools
import json
import re
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk import App
from stack_support import cdk_context

from infra.deployment import build
from infra.organization import AssetsStack, MemberTemplate, OrganizationStack

MANAGEMENT_ACCOUNT = "111111111111"
HOME_REGION = "eu-west-1"
REGIONS = ("eu-west-1", "us-east-1")
ORG_ID = "o-a1b2c3d4e5"
OU = "ou-ab12-cdef3456"
ROOT = "r-ab12"
EXCLUDED = "222222222222"
# What the organisation-mode tests deploy, unless they say otherwise.
ORG_CONTEXT: dict[str, Any] = {
    "org_units": [OU, ROOT],
    "org_id": ORG_ID,
    "regions": list(REGIONS),
    "exclude_accounts": [EXCLUDED],
    "notification_emails": ["secops@example.com"],
}
# Everything a context can change, each away from its default.
OTHER_TOPIC = "arn:aws:sns:eu-central-1:333333333333:security-notifications"
CUSTOM_CONTEXT: dict[str, Any] = {
    "org_units": [OU],
    "org_id": ORG_ID,
    "regions": ["eu-central-1", "us-west-2", "ap-southeast-2"],
    "call_as": "delegated_admin",
    "region_concurrency": "PARALLEL",
    "failure_tolerance_percentage": 10,
    "max_concurrent_percentage": 50,
    "notification_topic_arn": OTHER_TOPIC,
    "member_dashboard": True,
    "dry_run": True,
}


@dataclass(frozen=True)
class OrgSynthesized:
    """An app built in organisation mode (cdk-nag included), synthesized once, with every template."""

    app: App
    organization: OrganizationStack
    assets: list[AssetsStack]
    templates: dict[str, dict[str, Any]]

    @property
    def member(self) -> MemberTemplate:
        return self.organization.member

    def resources(self, stack_name: str, resource_type: str) -> dict[str, dict[str, Any]]:
        template = self.member.template if stack_name == "member" else self.templates[stack_name]
        return {key: value for key, value in template["Resources"].items() if value["Type"] == resource_type}

    def only(self, stack_name: str, resource_type: str) -> dict[str, Any]:
        found = self.resources(stack_name, resource_type)
        assert len(found) == 1, sorted(found)
        (resource,) = found.values()
        return resource

    @property
    def stack_set(self) -> dict[str, Any]:
        properties: dict[str, Any] = self.only(self.organization.stack_name, "AWS::CloudFormation::StackSet")[
            "Properties"
        ]
        return properties


def synthesize_org(outdir: Path, **context: Any) -> OrgSynthesized:
    """Build as app.py does with credentials of MANAGEMENT_ACCOUNT in HOME_REGION; fails on a cdk-nag finding."""
    app = App(context=cdk_context(**context), outdir=str(outdir))
    stacks = build(app, account=MANAGEMENT_ACCOUNT, default_region=HOME_REGION)
    assembly = app.synth()
    (organization,) = [stack for stack in stacks if isinstance(stack, OrganizationStack)]
    assets = [stack for stack in stacks if isinstance(stack, AssetsStack)]
    templates = {stack.stack_name: assembly.get_stack_by_name(stack.stack_name).template for stack in stacks}
    return OrgSynthesized(app=app, organization=organization, assets=assets, templates=templates)


def _outdir() -> Path:
    outdir = tempfile.mkdtemp(prefix="cdk.out-org-")
    atexit.register(shutil.rmtree, outdir, ignore_errors=True)
    return Path(outdir)


@functools.cache
def org_synthesized() -> OrgSynthesized:
    """Organisation mode with ORG_CONTEXT, once per test session."""
    return synthesize_org(_outdir(), **ORG_CONTEXT)


@functools.cache
def custom_synthesized() -> OrgSynthesized:
    """Organisation mode with CUSTOM_CONTEXT, once per test session."""
    return synthesize_org(_outdir(), **CUSTOM_CONTEXT)


# The member template's references made concrete for one member account and region.


@dataclass(frozen=True)
class Place:
    """Where a stack instance runs."""

    account: str
    region: str
    partition: str = "aws"


def concrete(value: Any, place: Place, resources: Mapping[str, Any]) -> Any:
    """`value` with Ref (pseudo parameters; a resource as its logical id), Fn::Join and Fn::Sub resolved at `place`."""
    pseudo = {"AWS::Partition": place.partition, "AWS::Region": place.region, "AWS::AccountId": place.account}
    if isinstance(value, list):
        return [concrete(item, place, resources) for item in value]
    if not isinstance(value, Mapping):
        return value
    if set(value) == {"Ref"}:
        name = value["Ref"]
        if name in pseudo:
            return pseudo[name]
        assert name in resources, name
        return name
    if set(value) == {"Fn::Join"}:
        separator, parts = value["Fn::Join"]
        return separator.join(str(concrete(part, place, resources)) for part in parts)
    if set(value) == {"Fn::Sub"}:
        return re.sub(r"\$\{([^}]+)\}", lambda match: pseudo[match[1]], value["Fn::Sub"])
    if set(value) == {"Fn::GetAtt"}:
        logical_id, attribute = value["Fn::GetAtt"]
        return f"{logical_id}.{attribute}"
    return {key: concrete(item, place, resources) for key, item in value.items()}


def body_of(stack_set: Mapping[str, Any]) -> dict[str, Any]:
    """The member template as the StackSet carries it."""
    parsed: dict[str, Any] = json.loads(stack_set["TemplateBody"])
    return parsed
