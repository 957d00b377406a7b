"""Webhooks: endpoints, the outbox and its deliveries, and where they may go (``targets``)."""
