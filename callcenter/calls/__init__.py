"""Inbound calls: admission, the per-call session that runs the IVR, and their HTTP API."""
