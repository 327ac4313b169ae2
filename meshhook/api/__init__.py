"""The JSON API (DESIGN §7): workflows, environments and test runs for CI scripts and tools."""
