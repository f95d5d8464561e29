"""Quality gates on every stack organisation mode synthesizes: cdk-nag's AWS Solutions checks and cfn-lint."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import Stack, Validations
from aws_cdk.assertions import Annotations, Match
from cdk_nag import AwsSolutionsChecks
from org_support import MANAGEMENT_ACCOUNT, REGIONS, OrgSynthesized, custom_synthesized, org_synthesized
from test_stack_quality import ACKNOWLEDGED as REGIONAL_ACKNOWLEDGED

from infra.components.asset_bucket import DEPLOYMENT_FINDINGS

CFN_LINT = Path(sys.executable).parent / "cfn-lint"

# What each kind of stack acknowledges; a new finding must be added here, with its reason in the code.
ASSETS_ACKNOWLEDGED = {
    "AwsSolutions-S1",
    *DEPLOYMENT_FINDINGS,
    "AwsSolutions-IAM5[Resource::<AssetsBucket252B3DF7.Arn>/*]",
}
MEMBER_ACKNOWLEDGED = {
    *REGIONAL_ACKNOWLEDGED,
    "AwsSolutions-SNS2",
    "AwsSolutions-IAM5[Action::kms:GenerateDataKey*]",
    "@aws-cdk/aws-lambda:codeFromBucketObjectVersionNotSpecified",
}


def synthesized_variants() -> list[OrgSynthesized]:
    return [org_synthesized(), custom_synthesized()]


def stacks_of(synthesized: OrgSynthesized) -> list[Stack]:
    return [*synthesized.assets, synthesized.organization, synthesized.member.stack]


def acknowledged_in(stack: Stack) -> dict[str, str]:
    acknowledged: dict[str, str] = {}
    for construct in stack.node.find_all():
        for entry in construct.node.metadata:
            if entry.type == Validations.ACKNOWLEDGED_RULES_METADATA_KEY:
                acknowledged.update({key.split("::", 1)[1]: reason for key, reason in entry.data.items()})
    return acknowledged


@pytest.mark.parametrize("variant", [0, 1], ids=["central-topic", "given-topic"])
def test_cdk_nag_leaves_no_unacknowledged_finding_in_any_organisation_stack(variant: int) -> None:
    synthesized = synthesized_variants()[variant]
    for stack in stacks_of(synthesized):
        report = AwsSolutionsChecks(stack.node.root).validate_scope(stack)
        assert [violation.rule_name for violation in report.violations] == [], stack.stack_name
        assert report.success
        errors = Annotations.from_stack(stack).find_error("*", Match.string_like_regexp("AwsSolutions-.*"))
        assert errors == [], stack.stack_name


def test_acknowledgments_are_the_known_ones_each_with_a_reason() -> None:
    synthesized = org_synthesized()
    for stack in synthesized.assets:
        acknowledged = acknowledged_in(stack)
        staging = (
            f"AwsSolutions-IAM5[Resource::arn:aws:s3:::cdk-hnb659fds-assets-{MANAGEMENT_ACCOUNT}-{stack.region}/*]"
        )
        assert set(acknowledged) == ASSETS_ACKNOWLEDGED | {staging}, stack.stack_name
    assert acknowledged_in(synthesized.organization) == {}
    member = acknowledged_in(synthesized.member.stack)
    key = f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:kms:eu-west-1:{MANAGEMENT_ACCOUNT}:key/*]"
    assert set(member) == MEMBER_ACKNOWLEDGED | {key}
    for each in stacks_of(synthesized):
        for rule, reason in acknowledged_in(each).items():
            assert len(reason.split()) >= 12, f"{rule}: give the reason, not a label: {reason!r}"


def lint(template: dict[str, Any], regions: list[str], tmp_path: Path, name: str) -> list[dict[str, Any]]:
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(template))
    result = subprocess.run(
        [str(CFN_LINT), "--format", "json", "--regions", *regions, "--", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode in (0, 4, 8), result.stderr  # 2: errors; 4: warnings; 8: informational
    findings: list[dict[str, Any]] = json.loads(result.stdout or "[]")
    return [finding for finding in findings if finding["Level"] == "Error"]


@pytest.mark.parametrize("variant", [0, 1], ids=["central-topic", "given-topic"])
def test_cfn_lint_finds_no_error_in_any_organisation_template(variant: int, tmp_path: Path) -> None:
    synthesized = synthesized_variants()[variant]
    for name, template in synthesized.templates.items():
        stack = next(s for s in stacks_of(synthesized) if s.stack_name == name)
        assert lint(template, [stack.region], tmp_path, name) == [], name
    # The member template, in every region a stack instance of it runs in.
    regions = list(REGIONS) if variant == 0 else ["eu-central-1", "us-west-2", "ap-southeast-2"]
    assert lint(synthesized.member.template, regions, tmp_path, "member") == []
