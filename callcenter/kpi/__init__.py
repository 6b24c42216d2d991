"""KPIs in the running service: the event log read into a :class:`KpiBook`, and its API.

-*- test-case-name: tests.integration.kpi -*-
"""
