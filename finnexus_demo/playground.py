"""``python -m finnexus_demo --keep`` / ``make playground``: after the story, everything stays up.

It writes a kubeconfig (context namespace ``demo``) and a ``kubectl-finnexus`` shim into the
demo's work folder, prints the two ``export`` lines and a short script of things to try, and
waits for Ctrl-C/SIGTERM; the demo's ExitStack then stops every process and removes the folder.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

from finnexus_demo.monitor import Timeline
from finnexus_demo.plugin import install_shim
from finnexus_demo.releases import NAME, NAMESPACE
from finnexus_kit.apiserver import ApiServer

__all__ = ["NAMESPACES", "hints", "keep", "write_kubeconfig"]

NAMESPACES = (NAMESPACE, "default")  # the demo's, and the one `kubectl apply` may default to


def write_kubeconfig(api: ApiServer, path: Path) -> str:
    """The emulator's kubeconfig with the context's namespace set to the demo's."""
    api.write_kubeconfig(path)
    config = json.loads(path.read_text(encoding="utf-8"))
    config["contexts"][0]["context"]["namespace"] = NAMESPACE
    path.write_text(json.dumps(config, indent=2), encoding="utf-8")
    return str(path)


def hints(kubeconfig: str, bin_dir: Path) -> list[str]:
    return [
        "",
        "Playground: the emulated API, the pod simulator, the apps, Prometheus and the operator",
        "keep running until Ctrl-C. In another shell:",
        "",
        f"  export KUBECONFIG={kubeconfig}",
        f"  export PATH={bin_dir}:$PATH        # kubectl-finnexus for this checkout",
        "",
        "  kubectl get fnd                              # Phase, Active, Stable, Candidate, Age",
        f"  kubectl finnexus get {NAME} -w                   # the tree, redrawn on change",
        f"  kubectl finnexus history {NAME}",
        f"  kubectl finnexus undo {NAME}                     # back to the previous revision",
        "  kubectl apply -f examples/minimal.yaml       # a second resource, 'demo'",
        "  kubectl finnexus status demo --watch --timeout 2m; echo \"exit $?\"   # a CI gate",
        "  kubectl patch fnd demo --type merge -p '{\"spec\":{\"promotion\":{\"auto\":false},"
        "\"template\":{\"metadata\":{\"labels\":{\"try\":\"2\"}}}}}'",
        "  kubectl finnexus get demo                    # AwaitingPromotion: what it waits for",
        "  kubectl finnexus promote demo                # or: kubectl finnexus abort demo",
        "",
        "kubectl apply validates as usual: the emulator serves an (empty) OpenAPI document, so no",
        "--validate=false is needed (the emulator itself checks no schema).",
    ]


def keep(api: ApiServer, kubeconfig: str, workdir: Path, clock: Timeline) -> None:
    """Print the hints and wait until interrupted (Ctrl-C/SIGTERM raise KeyboardInterrupt)."""
    bin_dir = workdir / "bin"
    install_shim(bin_dir)
    for line in hints(kubeconfig, bin_dir):
        clock.plain(line)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        clock.plain("\nPlayground stopped (Ctrl-C).")
