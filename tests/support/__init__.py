"""Test helpers shared across suites (real servers on loopback)."""
