"""The services a web process runs beside its handlers: the event hub, intake batching, rate limits, read routing, request accounting."""
