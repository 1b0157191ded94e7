"""``python -m finnexus_operator`` == ``finnexus-operator``."""

from finnexus_operator.cli import main

raise SystemExit(main())
