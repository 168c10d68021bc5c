"""Command-line clients of a running gateway: the live-feed follower and the dashboard session."""
