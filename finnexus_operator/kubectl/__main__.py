"""``python -m finnexus_operator.kubectl ...`` is ``kubectl finnexus ...``."""

from finnexus_operator.kubectl.cli import main

raise SystemExit(main())
