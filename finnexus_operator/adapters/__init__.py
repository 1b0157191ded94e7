"""Adapters: the only code that talks to the outside (Kubernetes API, pods, Prometheus)."""
