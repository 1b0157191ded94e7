"""FinNexus operator: safe blue-green releases on Kubernetes."""

__version__ = "0.1.0"

