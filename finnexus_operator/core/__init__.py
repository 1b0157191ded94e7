"""The pure decision core: no I/O, no clock, no kopf, no Kubernetes client, no HTTP."""
