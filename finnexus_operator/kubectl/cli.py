"""``kubectl finnexus``: the argument parser, the help texts and the one place errors become
exit codes (a single line on stderr, never a traceback)."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from finnexus_operator import __version__, errors
from finnexus_operator.kubectl import commands, requests
from finnexus_operator.kubectl.client import PluginClient, connect
from finnexus_operator.kubectl.exits import Exit
from finnexus_operator.kubectl.output import Output

__all__ = ["build_parser", "main", "parse_duration"]

EXIT_CODES = """\
exit codes:
  0  Stable / the request was accepted / done
  1  RolledBack, Failed or Invalid / the operator refused the request (its reason is printed)
  2  timeout: no decision within --timeout (status without --watch/--timeout: still in progress)
  3  the FinNexusDeployment was not found
  4  any other error: no kubeconfig, API server unreachable, forbidden, bad usage"""

COMMANDS: dict[str, tuple[str, str]] = {
    "get": ("show the resource as a tree: colours, revisions, images, pods, route, "
            "analysis, health, Events and what the operator waits for next",
            "-w/--watch redraws on every change (at most once a second); Ctrl-C exits 0."),
    "status": ("print one line 'phase: message'; the exit code says the outcome (a CI gate)",
               "Without --watch/--timeout: 0 only when Stable (and the operator has observed "
               "the latest spec),\n1 RolledBack/Failed/Invalid, 2 while still in progress. "
               "With --watch or --timeout: wait for\nStable/RolledBack/Failed/Invalid, "
               "printing each new line; 2 when --timeout passes first."),
    "list": ("list FinNexusDeployments: namespace, name, phase, active colour, stable and "
             "candidate revision, age", ""),
    "promote": ("switch traffic now (AwaitingPromotion) or promote now (Analyzing)",
                "Waits for the operator's answer: 0 accepted, 1 refused (reason printed), "
                "2 no answer within --timeout."),
    "abort": ("roll back the rollout in progress now", ""),
    "retry": ("clear the rejected revision and try the current template again", ""),
    "undo": ("return to the previous stable revision", ""),
    "pause": ("set spec.paused: true (progress freezes; a rollback still happens)",
              "This edits the spec: under GitOps, change spec.paused in Git instead."),
    "resume": ("set spec.paused: false", ""),
    "history": ("the last rollouts (status.history), oldest first", ""),
    "version": ("the plugin's version, and the operator's when its Deployment is found", ""),
}
_REQUESTS = ("promote", "abort", "retry", "undo")
_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s)?$")


def parse_duration(text: str) -> float:
    """``90s``, ``10m``, ``1h``, ``1h30m`` or plain seconds, as seconds."""
    value = text.strip()
    if re.fullmatch(r"\d+(?:\.\d+)?", value):
        return float(value)
    match = _DURATION.match(value)
    if not value or match is None:
        raise argparse.ArgumentTypeError(f"invalid duration {text!r} (use e.g. 90s, 10m, 1h)")
    hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds


class _Parser(argparse.ArgumentParser):
    """Usage errors exit 4 (argparse's own 2 means a timeout here), in one line."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"error: {message} (see: {self.prog} --help)\n")
        raise SystemExit(int(Exit.ERROR))


def _connection_flags(parser: argparse.ArgumentParser, suppress: bool) -> None:
    default = argparse.SUPPRESS if suppress else None
    group = parser.add_argument_group("cluster options (as kubectl's)")
    group.add_argument("-n", "--namespace", default=default,
                       help="namespace (default: the kubeconfig context's, else 'default')")
    group.add_argument("--context", default=default, help="kubeconfig context to use")
    group.add_argument("--kubeconfig", default=default,
                       help="kubeconfig file (default: $KUBECONFIG, else ~/.kube/config)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="kubectl finnexus", epilog=EXIT_CODES,
                     formatter_class=argparse.RawDescriptionHelpFormatter,
                     description="Watch and drive FinNexusDeployment blue-green releases.")
    parser.add_argument("--version", action="version", version=f"kubectl-finnexus {__version__}")
    _connection_flags(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name, (summary, detail) in COMMANDS.items():
        cmd = sub.add_parser(name, help=summary, epilog=f"{detail}\n\n{EXIT_CODES}".lstrip(),
                             description=summary[0].upper() + summary[1:] + ".",
                             formatter_class=argparse.RawDescriptionHelpFormatter)
        _connection_flags(cmd, suppress=True)
        if name not in ("list", "version"):
            cmd.add_argument("name", metavar="NAME", help="the FinNexusDeployment")
        if name == "get":
            cmd.add_argument("-w", "--watch", action="store_true", help="redraw on change")
        if name == "status":
            cmd.add_argument("-w", "--watch", action="store_true",
                             help="wait for Stable/RolledBack/Failed/Invalid")
            cmd.add_argument("--timeout", type=parse_duration, default=None, metavar="D",
                             help="give up after D (90s, 10m, 1h): exit 2; implies --watch")
        if name in _REQUESTS:
            cmd.add_argument("--timeout", type=parse_duration, default=30.0, metavar="D",
                             help="how long to wait for the operator's answer (default 30s)")
        if name == "list":
            cmd.add_argument("-A", "--all-namespaces", action="store_true",
                             help="list across all namespaces")
        if name == "history":
            cmd.add_argument("-o", "--output", choices=("table", "yaml", "json"),
                             default="table", help="output format (default: table)")
    return parser


Handler = Callable[[Any, PluginClient, Output], Exit]
_HANDLERS: dict[str, Handler] = {
    "get": commands.get, "status": commands.status, "list": commands.list_,
    "history": commands.history, "pause": commands.pause(True),
    "resume": commands.pause(False), **dict.fromkeys(_REQUESTS, requests.request),
}


def _timeout_text(raw: Sequence[str]) -> str:
    for i, arg in enumerate(raw):
        if arg == "--timeout" and i + 1 < len(raw):
            return raw[i + 1]
        if arg.startswith("--timeout="):
            return arg.split("=", 1)[1]
    return "30s"


def main(argv: Sequence[str] | None = None) -> int:
    raw = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(raw)
    args.timeout_text = _timeout_text(raw)
    out = Output()
    client: PluginClient | None = None
    try:
        try:
            client = connect(getattr(args, "kubeconfig", None), getattr(args, "context", None))
        except errors.ConfigError:
            if args.command == "version":
                return int(commands.version(args, None, out))
            raise
        if args.command == "version":
            return int(commands.version(args, client, out))
        args.namespace = getattr(args, "namespace", None) or client.connection.namespace
        return int(_HANDLERS[args.command](args, client, out))
    except errors.NotFound as exc:
        out.error(str(exc))
        return int(Exit.NOT_FOUND)
    except errors.FinNexusError as exc:
        out.error(str(exc))
        return int(Exit.ERROR)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # never a traceback: one line, exit 4
        out.error(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
        return int(Exit.ERROR)
    finally:
        if client is not None:
            client.close()
