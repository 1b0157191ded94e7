"""Packaging tests: the Helm chart, the image, the examples and Argo CD glue, checked offline."""
