"""What app.py builds: the settings from the app's context, the stacks, and the cdk-nag checks.

One stack per region of one account (`make deploy`), or, with `org_units` in context, the organisation stacks
instead (`make deploy-org`, infra/organization.py).
"""

from __future__ import annotations

from aws_cdk import App, Environment, Stack, Validations
from cdk_nag import AwsSolutionsChecks

from infra.organization import add_organization_stacks
from infra.settings import Settings
from infra.stack import RemediatorStack

STACK_NAME = "SgRemediator"


def settings_of(app: App) -> Settings:
    """The app's context settings, validated (a ContextError names the bad key, or the setting a typo meant)."""
    return Settings.from_context(app.node.get_all_context())


def add_stacks(
    app: App, *, settings: Settings, account: str | None, default_region: str | None
) -> list[RemediatorStack]:
    """One stack per region of `settings.regions`, or one in `default_region` (agnostic if that is None).

    CloudTrail hands each event to EventBridge in the region of the call, so each region needs its own rule
    and function.
    """
    if not settings.regions:
        env = Environment(account=account, region=default_region) if account or default_region else None
        return [RemediatorStack(app, STACK_NAME, settings=settings, env=env)]
    return [
        RemediatorStack(
            app,
            f"{STACK_NAME}-{region}",
            settings=settings,
            env=Environment(account=account, region=region),
        )
        for region in settings.regions
    ]


def build(app: App, *, account: str | None, default_region: str | None) -> list[Stack]:
    """Everything app.py synthesizes; synthesis then fails on any unacknowledged AWS Solutions finding."""
    settings = settings_of(app)
    stacks: list[Stack] = (
        add_organization_stacks(app, settings=settings, account=account, default_region=default_region).stacks
        if settings.organization
        else list(add_stacks(app, settings=settings, account=account, default_region=default_region))
    )
    Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=True))
    return stacks
