"""Contract tests: real HTTP against the emulated Kubernetes API."""
