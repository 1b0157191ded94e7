"""The parts of the emulated Kubernetes API; `finnexus_kit.apiserver` is its front door.

Layered one way: ``resources`` (types, paths, Status errors) and ``selectors`` are leaves;
``store`` keeps and versions the objects; ``watch`` streams the store's changes; ``emulator``
routes HTTP requests to both; ``server`` runs the emulator in a thread with a small client.
"""
