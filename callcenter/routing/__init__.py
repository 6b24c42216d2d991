"""Routing in the running service: queued callers offered to agents, and its API."""
