"""The pure decision core: no I/O, no clock, no kopf, no Kubernetes client, no HTTP.

``validation.parse_spec`` parses a spec once per pass; ``schedule.due`` says which probes are
due and exactly what they are (``probes``); ``plan.plan`` decides the next status, Events and
ensure-actions (``actions``) from the spec, the status and what was ``observed``, with the
ladder's order in ``plan.ladder``, the rules in ``rules`` and ``requests``, the pass's state in
``rollout`` and what a decided status asks of the cluster in ``output``; ``passes.run_pass`` is
the one pass choreography (observe -> due -> probe -> plan -> apply) every driver uses.
``analysis`` grades measurements, ``templating`` renders PromQL, ``manifests`` builds objects.
"""
