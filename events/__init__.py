"""Events after they are committed: the relay that numbers and publishes them, the Redis fan-out, and the post-commit signals."""
