"""How many torch threads a run uses: its share of the cores when a launcher runs jobs side by side."""

from __future__ import annotations

import os

from hydra.core.hydra_config import HydraConfig


def available_cores() -> int:
    """Cores this process may run on (a cgroup or taskset may allow fewer than the machine has)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _parallel_jobs(n_jobs: int, cores: int) -> int:
    """joblib's reading of n_jobs: -1 is every core, -2 all but one, and so on."""
    return n_jobs if n_jobs > 0 else max(1, cores + 1 + n_jobs)


def torch_threads(requested: int | None) -> int | None:
    """The `torch_threads` of the config, or when it is null the job's share under a launcher:

    - submitit (local or SLURM) with `hydra.launcher.cpus_per_task` set: that many;
    - joblib: the cores divided by the jobs that run at once (`hydra.launcher.n_jobs`, no more
      than the sweeper's batch `hydra.sweeper.n_jobs` where it has one), at least 1;
    - otherwise None: torch's own default (every core), right for a run that is alone.

    Without this two jobs on two cores each start a thread per core, and both run slower than alone.
    """
    if requested:
        return int(requested)
    if not HydraConfig.initialized():
        return None
    hydra_cfg = HydraConfig.get()
    launcher = hydra_cfg.launcher
    if launcher.get("cpus_per_task"):
        return int(launcher.cpus_per_task)
    if launcher.get("n_jobs") is None:
        return None
    cores = available_cores()
    jobs = _parallel_jobs(int(launcher.n_jobs), cores)
    batch = hydra_cfg.sweeper.get("n_jobs")
    if batch:
        jobs = min(jobs, int(batch))
    return max(1, cores // jobs)
