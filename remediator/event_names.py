"""The names of what the remediator is sent: CloudTrail event names and EventBridge detail types (stdlib only)."""

from __future__ import annotations

AUTHORIZE_INGRESS = "AuthorizeSecurityGroupIngress"
MODIFY_RULES = "ModifySecurityGroupRules"
# The calls whose events the CloudTrail rule delivers, and the handler acts on.
HANDLED_EVENTS = (AUTHORIZE_INGRESS, MODIFY_RULES)
CLOUDTRAIL_DETAIL_TYPE = "AWS API Call via CloudTrail"
SCHEDULED_DETAIL_TYPE = "Scheduled Event"
