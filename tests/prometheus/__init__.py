"""Tests against a real Prometheus server (Debian's package) scraping in-process demo apps."""
