"""Quality gates on the synthesized stack: cdk-nag's AWS Solutions checks and cfn-lint."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from aws_cdk import Validations
from aws_cdk.assertions import Annotations, Match
from cdk_nag import AwsSolutionsChecks
from stack_support import Synthesized, synthesized_once

CFN_LINT = Path(sys.executable).parent / "cfn-lint"

# Every finding acknowledged in the stack; a new one must be added here, with its reason in the code.
ACKNOWLEDGED = {
    "AwsSolutions-SQS3",
    "AwsSolutions-DDB3",
    "AwsSolutions-IAM5[Resource::*]",
    "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:security-group/*]",
    "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:*:prefix-list/*]",
}


@pytest.fixture(scope="module")
def synthesized() -> Synthesized:
    return synthesized_once()


def test_cdk_nag_leaves_no_unacknowledged_finding(synthesized: Synthesized) -> None:
    # The fixture's synth ran the checks as a validation plugin (as app.py does) and would have failed.
    report = AwsSolutionsChecks(synthesized.app).validate_scope(synthesized.stack)
    assert [violation.rule_name for violation in report.violations] == []
    assert report.success
    errors = Annotations.from_stack(synthesized.stack).find_error("*", Match.string_like_regexp("AwsSolutions-.*"))
    assert errors == []


def test_acknowledgments_are_the_known_ones_each_with_a_reason(synthesized: Synthesized) -> None:
    acknowledged: dict[str, str] = {}
    for construct in synthesized.stack.node.find_all():
        for entry in construct.node.metadata:
            if entry.type == Validations.ACKNOWLEDGED_RULES_METADATA_KEY:
                # Recorded as "<source>::<rule>"; the source prefix is CDK's business.
                acknowledged.update({key.split("::", 1)[1]: reason for key, reason in entry.data.items()})
    assert set(acknowledged) == ACKNOWLEDGED
    for rule, reason in acknowledged.items():
        assert len(reason.split()) >= 12, f"{rule}: give the reason, not a label: {reason!r}"


def test_cfn_lint_finds_no_error(synthesized: Synthesized, tmp_path: Path) -> None:
    template = tmp_path / "template.json"
    template.write_text(json.dumps(synthesized.template.to_json()))
    result = subprocess.run(
        [str(CFN_LINT), "--format", "json", "--regions", "us-east-1", "eu-west-1", "--", str(template)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode in (0, 4, 8), result.stderr  # 2: errors; 4: warnings; 8: informational
    findings = json.loads(result.stdout or "[]")
    errors = [f for f in findings if f["Level"] == "Error"]
    assert errors == [], errors
