"""Prometheus metrics: ``GET /metrics`` (see README "Metrics and KPIs").

Three sources, one page:

- ``call_counters``: per-process counters and histograms, counted as this process appends
  events (offered/answered/abandoned, waits, handle times, agent state changes);
- ``health``: this process's SIP front, registrar, media worker pool and Redis link, read from
  their own statistics at scrape time;
- ``live``: shared figures read from Redis at scrape time (queues, agents, calls in progress,
  registrations) and the KPI book's figures; any ``serve`` process reports the same, and none
  when Redis is lost (``callcenter_live_state_up 0``) rather than stale ones.

-*- test-case-name: tests.e2e.test_metrics, tests.unit.metrics -*-
"""
