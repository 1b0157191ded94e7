"""``kubectl finnexus``: the kubectl plugin (console script ``kubectl-finnexus``).

Layout, top to bottom: `cli` (arguments, help, errors → exit codes) → `commands` (get, status,
list, history, pause/resume, version) and `requests` (promote/abort/retry/undo and the wait for
the operator's answer) → `render` (the ``get`` tree, tables; pure) and `client` (its own small
synchronous Kubernetes client on the ``kubernetes`` package, kubeconfig contexts as kubectl
reads them) → `exits`, `output`. It uses the models for phases and the status, never the
operator's controller or adapters.
"""

from finnexus_operator.kubectl.cli import main

__all__ = ["main"]
