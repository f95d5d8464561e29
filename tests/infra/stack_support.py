"""Helpers of the CDK tests: the app built as app.py builds it, synthesized without bundling."""

from __future__ import annotations

import atexit
import functools
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Before the first jsii import starts node: node 20 is past jsii's support date, which prints a banner.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")

from aws_cdk import App
from aws_cdk.assertions import Template
from constructs import IConstruct

from infra.deployment import build
from infra.stack import RemediatorStack

REPO_ROOT = Path(__file__).resolve().parents[2]


def cdk_context(**overrides: Any) -> dict[str, Any]:
    """The context of cdk.json (settings and feature flags) without bundling, so that synth stays fast."""
    context: dict[str, Any] = json.loads((REPO_ROOT / "cdk.json").read_text())["context"]
    context["aws:cdk:bundling-stacks"] = []
    context.update(overrides)
    return context


@dataclass(frozen=True)
class Synthesized:
    """An app built as app.py builds it (cdk-nag included), synthesized once."""

    app: App
    stack: RemediatorStack
    template: Template

    def resources(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {
            logical_id: dict(resource) for logical_id, resource in self.template.find_resources(resource_type).items()
        }

    def logical_id(self, construct: IConstruct) -> str:
        """The logical id of an L2 construct's CloudFormation resource."""
        return str(self.stack.resolve(construct.node.default_child.logical_id))  # type: ignore[union-attr]


def synthesize(outdir: Path, **context: Any) -> Synthesized:
    """Build and synthesize; fails if cdk-nag reports an unacknowledged finding, as `cdk synth` does."""
    app = App(context=cdk_context(**context), outdir=str(outdir))
    # Environment-agnostic, as a synth without credentials is: ARNs keep their ${AWS::...} references.
    (stack,) = build(app, account=None, default_region=None)
    assert isinstance(stack, RemediatorStack)
    return Synthesized(app=app, stack=stack, template=Template.from_stack(stack))


@functools.cache
def synthesized_once() -> Synthesized:
    """One synthesized app per test session, whichever modules ask for it."""
    outdir = tempfile.mkdtemp(prefix="cdk.out-")
    atexit.register(shutil.rmtree, outdir, ignore_errors=True)
    return synthesize(Path(outdir))
