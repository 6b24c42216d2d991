"""Tickets for finished calls: a durable outbox in the history database, a courier that
delivers it, and the backends it delivers to (built-in helpdesk, webhook, Zendesk, Freshdesk).
See README "Tickets"."""
