"""Recording of bridged conversations: the worker records each party, this package makes the
stereo file, its sidecar, the alarms and the API (see README "Recording")."""
