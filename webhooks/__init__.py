"""Webhooks: signing, the delivery client, and the senders that send each endpoint its events in order."""
