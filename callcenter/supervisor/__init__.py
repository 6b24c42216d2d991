"""Supervisor controls: moving and re-prioritising waiting calls, the audit trail of actions."""
