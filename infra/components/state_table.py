"""The remediator's memory between invocations: re-openings of a rule and the day's notices of a group."""

from __future__ import annotations

from aws_cdk import Acknowledgment, RemovalPolicy, Validations
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from remediator.state import KEY_ATTRIBUTE, TTL_ATTRIBUTE


class StateTable(Construct):
    """A small DynamoDB table: on demand, every item with a TTL, encrypted with the AWS-managed key.

    A key of our own would cost a dollar a month per account and region for data that lives a day or two; point-in-
    time recovery stays off for the same reason (losing it costs at most one count or one repeated notice).
    """

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.table = dynamodb.Table(
            self,
            "Table",
            partition_key=dynamodb.Attribute(name=KEY_ATTRIBUTE, type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            time_to_live_attribute=TTL_ATTRIBUTE,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=False
            ),
            # Counts of the last day only: nothing to keep when the stack goes.
            removal_policy=RemovalPolicy.DESTROY,
        )
        Validations.of(self.table).acknowledge(
            Acknowledgment(
                id="AwsSolutions-DDB3",
                reason="The table holds a day of counts and notices that expire by TTL; a restore would bring "
                "back at most a repeated notice or a count that starts again, not worth point-in-time recovery.",
            )
        )
