"""Baselines the benchmarks compare PIE with (helpers, not benchmarks themselves)."""
