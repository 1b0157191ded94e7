"""The kopf layer and the reconcile loop: observe, plan(), apply."""
