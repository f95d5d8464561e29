"""The names of what the remediator is sent: CloudTrail event names and EventBridge detail types (stdlib only)."""

from __future__ import annotations

AUTHORIZE_INGRESS = "AuthorizeSecurityGroupIngress"
MODIFY_RULES = "ModifySecurityGroupRules"
# The security-group calls that add rules: the handler acts on the rules each added.
HANDLED_EVENTS = (AUTHORIZE_INGRESS, MODIFY_RULES)
# Prefix-list edits: they change every rule that references the list, with no security-group call.
MODIFY_PREFIX_LIST = "ModifyManagedPrefixList"
RESTORE_PREFIX_LIST = "RestoreManagedPrefixListVersion"
PREFIX_LIST_EVENTS = (MODIFY_PREFIX_LIST, RESTORE_PREFIX_LIST)
# The calls that put a group to use (attach it to an instance, an interface or a VPC): an open group's exposure
# becomes real then.
RUN_INSTANCES = "RunInstances"
CREATE_INTERFACE = "CreateNetworkInterface"
MODIFY_INTERFACE = "ModifyNetworkInterfaceAttribute"
MODIFY_INSTANCE = "ModifyInstanceAttribute"
ASSOCIATE_VPC = "AssociateSecurityGroupVpc"
ATTACH_EVENTS = (RUN_INSTANCES, CREATE_INTERFACE, MODIFY_INTERFACE, MODIFY_INSTANCE, ASSOCIATE_VPC)
# Every call whose events the CloudTrail rule delivers.
DELIVERED_EVENTS = (*HANDLED_EVENTS, *PREFIX_LIST_EVENTS, *ATTACH_EVENTS)
CLOUDTRAIL_DETAIL_TYPE = "AWS API Call via CloudTrail"
SCHEDULED_DETAIL_TYPE = "Scheduled Event"
