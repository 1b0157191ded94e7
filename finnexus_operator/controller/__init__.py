"""The kopf layer: kopf registrations, the per-object work queue and one reconcile pass.

``handlers`` registers with kopf (an event handler, startup/cleanup; nothing else);
``workqueue`` runs one worker per FinNexusDeployment (requeue timers, backoff, skipping the
echo of our own status write); ``reconcile`` runs ``core.passes.run_pass`` for one resource
against the real cluster and records its status and Events (the one place errors are mapped);
``observe`` reads what the pass looks at; ``executor`` turns the core's actions into adapter
calls; ``telemetry`` holds the operator's own Prometheus metrics; ``runtime`` what one
operator process shares. Imports the adapters and the core, never the other way round.
"""
