"""The one-machine demo: demo apps with real metrics, a load generator and friends."""
