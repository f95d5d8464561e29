"""The remediator stack: composes the constructs of one region; each construct builds its own resources."""

from __future__ import annotations

from aws_cdk import Environment, Stack
from constructs import Construct

from infra.components.alarms import Alarms
from infra.components.dashboard import Dashboard
from infra.components.notifications import Notifications
from infra.components.remediator_function import RemediatorFunction
from infra.components.triggers import Triggers
from infra.settings import Settings


class RemediatorStack(Stack):
    """Everything sg-remediator deploys to one account and region."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: Settings,
        env: Environment | None = None,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            env=env,
            description="sg-remediator: closes risky security-group ingress rules the moment they are opened",
        )
        self.notifications = Notifications(self, "Notifications", emails=settings.notification_emails)
        self.remediator = RemediatorFunction(
            self, "Remediator", settings=settings, topic_arn=self.notifications.topic.topic_arn
        )
        self.notifications.allow_publishing(self.remediator.role)
        self.triggers = Triggers(
            self,
            "Triggers",
            function=self.remediator.function,
            dead_letter_queue=self.remediator.dead_letter_queue,
            sweep_schedule=settings.sweep_schedule,
            archive_retention_days=settings.archive_retention_days,
        )
        self.alarms = Alarms(
            self,
            "Alarms",
            function=self.remediator.function,
            dead_letter_queue=self.remediator.dead_letter_queue,
            topic=self.notifications.topic,
            rules=self.triggers.rules,
        )
        self.dashboard = (
            Dashboard(
                self,
                "Dashboard",
                function=self.remediator.function,
                dead_letter_queue=self.remediator.dead_letter_queue,
            )
            if settings.dashboard
            else None
        )
