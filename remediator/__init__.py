"""sg-remediator: closes risky security-group ingress rules the moment CloudTrail reports them."""
