"""Tests of the JSON API (DESIGN §7)."""
