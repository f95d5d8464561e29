"""The constructs the remediator stack composes; each builds one concern and exposes its resources."""
