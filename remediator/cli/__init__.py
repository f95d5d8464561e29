"""The command line (`python -m remediator`, `sg-remediator`): left out of the Lambda asset."""
