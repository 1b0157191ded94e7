"""FinNexus operator tests."""
