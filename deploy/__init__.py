"""Deployment: the nginx template, the local topology (`python -m deploy.local`)."""
