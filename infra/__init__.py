"""The AWS CDK app of sg-remediator: settings from context, the stack and the constructs it composes."""
