"""sg-remediator: closes risky security-group ingress rules the moment CloudTrail reports them."""

__version__ = "0.2.0"
