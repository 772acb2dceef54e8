"""The crypto-miner DaemonSet of issue 15's scenario (the Tesla Kubernetes compromise): privileged, hostPID,
an unpinned image. One manifest for every test that collects it (alerts, gates, SARIF, metrics)."""

MINER = """\
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: miner
  namespace: mining
spec:
  selector: {matchLabels: {app: miner}}
  template:
    metadata: {labels: {app: miner}}
    spec:
      hostPID: true
      containers:
      - name: miner
        image: example/miner:latest
        securityContext: {privileged: true}
"""
