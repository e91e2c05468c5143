"""Activity of a pod: the probe run on the pod, the samples it yields, and the idle decision.

- `samples`: the `Sample` record (docs/idle.md, activity-samples.md), trace load/dump, merging the
  probe's reading with RunPod's telemetry and local sync activity.
- `probe`: the pod-side script (`probe.sh`), the command that runs it over SSH, its parser.
- `decide`: the pure idle decision (`step` per sample, `replay` over a trace).
- `history`: bounded sample retention in SQLite.
"""
