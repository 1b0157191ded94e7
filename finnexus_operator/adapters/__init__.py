"""Adapters: the only code that talks to the outside (Kubernetes API, pods, Prometheus).

``kube`` (an async REST client, errors translated into ``finnexus_operator.errors``),
``objects`` (ensure-style writes of owned objects; never a foreign one), ``drift`` (what to
patch: declared against stored, without fighting API-server defaulting), ``resource`` (the
FinNexusDeployment: status, request annotation, Events), ``routers`` (traffic routers behind
the ``TrafficRouter`` Protocol, an explicit registry), ``health`` (executes a core
``HealthProbe``), ``metrics`` (the ``MetricProvider`` Protocol, its registry, executes a core
``Measurement``) and ``prometheus`` (the Prometheus provider). Adapters decide nothing: what
to probe and what to write comes from the core.
"""
