"""Supervisors listen to, whisper to and barge into agents' live calls from their phones."""
