"""Tests for kea-ha-tw (run with python -m twisted.trial tests)."""
