"""``python -m finnexus_demo [--fast]``: the demo (`make demo`); see `finnexus_demo.story`."""

from finnexus_demo.story import main

raise SystemExit(main())
