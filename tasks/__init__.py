"""The Huey tasks (settlement and the sweeper), the queue they run on, and the consumers that run them."""
