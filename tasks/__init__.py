"""Background work: the Huey tasks (settlement and the sweeper), the queue and consumers that run them, and the clock that ends what is overdue."""
