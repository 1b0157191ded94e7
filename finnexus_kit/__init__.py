"""The test kit: stand-ins for a cluster, for the tests, the benchmarks and the demo.

An emulated Kubernetes API (`apiserver`, its parts in `kubeapi`), a pod simulator standing in
for kubelet and the Deployment controller (`kubelet`), the demo/test HTTP app with real metrics
(`app`) and its processes (`apps`), a loopback load generator (`load`), a real Prometheus server
on loopback (`prometheus`) and the operator run in a thread (`operator_thread`).

Not part of the product: the ``finnexus-operator`` wheel and image hold only
``finnexus_operator``. The kit may import the product; the product never imports the kit, and
the kit never imports the demo (``finnexus_demo``); import-linter enforces both.
"""
