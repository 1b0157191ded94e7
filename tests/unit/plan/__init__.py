"""Tables over the pure core, one file per rung of the rollout ladder (DESIGN.md §2)."""
