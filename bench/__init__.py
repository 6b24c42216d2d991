"""Benchmarks driven by sipp against the real service; they print figures, they assert nothing."""
