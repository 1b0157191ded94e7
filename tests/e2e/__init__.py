"""End-to-end tests on a real kind cluster (skipped where no container engine exists)."""
