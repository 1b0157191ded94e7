"""The scale benchmark (issue 9, item 5): ``python -m bench.scale``; see bench/README.md."""
