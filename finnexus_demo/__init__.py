"""The one-machine demo (`make demo`, ``python -m finnexus_demo [--fast]``): the story.

It runs the real operator against the test kit's stand-ins (``finnexus_kit``: emulated API,
pod simulator, demo apps, a real Prometheus) and checks every expected outcome. Not part of
the product: the ``finnexus-operator`` wheel and image hold only ``finnexus_operator``.
"""
