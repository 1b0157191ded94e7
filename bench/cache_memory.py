"""Benchmark: what one cached object costs the operator's memory, as decoded and as the
informer cache keeps it (``adapters.informer.slim``: no managedFields, keys interned).

A Deployment as the API server returns it (defaults, status, managedFields), 1000 copies that
differ in their names, measured with tracemalloc; and the CPU time of ``slim`` per object.
Printed, not asserted:

    python -m bench.cache_memory [--objects 1000]
"""

from __future__ import annotations

import argparse
import json
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

from finnexus_operator.adapters.informer import slim

_LABELS = {"app.kubernetes.io/name": "app-0001", "app.kubernetes.io/managed-by":
           "finnexus-operator", "finnexus.ai/color": "green", "finnexus.ai/revision": "823438830a"}
DEPLOYMENT: dict[str, Any] = {
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {
        "name": "app-0001-green", "namespace": "bench", "generation": 2,
        "uid": "5e0f8a6c-0001-2222-3333-444455556666", "resourceVersion": "123456",
        "creationTimestamp": "2026-12-02T14:00:00Z", "labels": _LABELS,
        "annotations": {"deployment.kubernetes.io/revision": "1"},
        "ownerReferences": [{"apiVersion": "finnexus.ai/v1alpha1", "kind": "FinNexusDeployment",
                             "name": "app-0001", "uid": "aaaa-0001", "controller": True,
                             "blockOwnerDeletion": True}],
        "managedFields": [{"manager": "finnexus-operator", "operation": "Apply",
                           "apiVersion": "apps/v1", "time": "2026-12-02T14:00:00Z",
                           "fieldsType": "FieldsV1",
                           "fieldsV1": {"f:spec": {"f:replicas": {}, "f:template": {}}}}],
    },
    "spec": {
        "replicas": 1, "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600,
        "selector": {"matchLabels": {"app.kubernetes.io/name": "app-0001",
                                     "finnexus.ai/color": "green"}},
        "strategy": {"type": "RollingUpdate",
                     "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
        "template": {
            "metadata": {"labels": {"app": "web", **_LABELS}},
            "spec": {"containers": [{
                "name": "app", "image": "app:v2", "imagePullPolicy": "IfNotPresent",
                "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "File", "resources": {}}],
                "restartPolicy": "Always", "terminationGracePeriodSeconds": 30,
                "dnsPolicy": "ClusterFirst", "securityContext": {},
                "schedulerName": "default-scheduler"}},
    },
    "status": {"observedGeneration": 2, "replicas": 1, "updatedReplicas": 1,
               "readyReplicas": 1, "availableReplicas": 1,
               "conditions": [{"type": "Available", "status": "True",
                               "lastUpdateTime": "2026-12-02T14:00:01Z",
                               "lastTransitionTime": "2026-12-02T14:00:01Z",
                               "reason": "MinimumReplicasAvailable",
                               "message": "Deployment has minimum availability."}]},
}


def kib_per_object(make: Callable[[str], Any], count: int) -> float:
    raw = json.dumps(DEPLOYMENT)
    tracemalloc.start()
    kept = [make(raw.replace("0001", f"{i:04d}")) for i in range(count)]
    current, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(kept) == count
    return current / count / 1024


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.cache_memory", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--objects", type=int, default=1000)
    args = parser.parse_args()
    decoded = kib_per_object(json.loads, args.objects)
    cached = kib_per_object(lambda raw: slim(json.loads(raw)), args.objects)
    obj = json.loads(json.dumps(DEPLOYMENT))
    start, rounds = time.perf_counter(), 2000
    for _ in range(rounds):
        slim(obj)
    per = (time.perf_counter() - start) / rounds
    print(f"one Deployment, {args.objects} copies: decoded {decoded:.1f} KiB each, "
          f"as cached {cached:.1f} KiB each ({(1 - cached / decoded) * 100:.0f} % less); "
          f"slim() {per * 1e6:.1f} us per object")


if __name__ == "__main__":
    main()
