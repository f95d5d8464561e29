"""The CDK app: settings from context, one remediator stack per region, cdk-nag's AWS Solutions checks."""

from __future__ import annotations

import os
import sys

from aws_cdk import App

from infra.deployment import build
from infra.settings import ContextError

app = App()
try:
    # The only place that reads the environment: the CLI sets these from the profile and credentials in use.
    build(app, account=os.environ.get("CDK_DEFAULT_ACCOUNT"), default_region=os.environ.get("CDK_DEFAULT_REGION"))
except ContextError as error:
    sys.exit(f"error: {error}")
app.synth()
