"""How many torch threads a run uses: one for a small network, else the cores it may use (a sweep
job's share of them under a launcher that runs jobs side by side)."""

from __future__ import annotations

import os

from hydra.core.hydra_config import HydraConfig

# Below this many parameters a second thread gains nothing; see default_threads.
LARGE_NETWORK_PARAMETERS = 100_000


def available_cores() -> int:
    """Cores this process may run on (a cgroup or taskset may allow fewer than the machine has)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def default_threads(n_parameters: int, cores: int) -> int:
    """One thread for a network under LARGE_NETWORK_PARAMETERS, else every core it may use.

    Measured on a 2-core CPU machine (torch 2.13.0, median seconds per epoch of real fits, 1 vs 2
    threads, idle): no gain for the tutorial's networks (3,393 to 4,513 parameters: 0.11 vs 0.11)
    nor the default LSTM (17,217; a whole `make train` fit: 9.5 s vs 11.8 s); 50,000 to 70,000
    parameters gained up to 1.7 times with batch 256 and were unsteady with batch 32; the
    benchmark's large setting (n_steps 64, batch 256, hidden 128, 2 layers) gained a steady 1.5
    times (LSTM, 199,297 parameters: 1.44 vs 0.93 s; GRU, 149,505: 1.09 vs 0.71 s). With another
    process keeping the cores busy every thread beyond the first costs far more than it can gain
    (the default run, 10 epochs: 16.45 s of fitting with 2 threads, 1.03 s with 1), so only a
    network that gains steadily gets them.
    """
    return cores if n_parameters >= LARGE_NETWORK_PARAMETERS else 1


def _parallel_jobs(n_jobs: int, cores: int) -> int:
    """joblib's reading of n_jobs: -1 is every core, -2 all but one, and so on."""
    return n_jobs if n_jobs > 0 else max(1, cores + 1 + n_jobs)


def launcher_share() -> int | None:
    """The cores a sweep job may use when its launcher runs jobs side by side, else None:

    - submitit (local or SLURM) with `hydra.launcher.cpus_per_task` set: that many;
    - joblib: the cores divided by the jobs that run at once (`hydra.launcher.n_jobs`, no more
      than the sweeper's batch `hydra.sweeper.n_jobs` where it has one), at least 1.

    Without this two jobs on two cores each start a thread per core, and both run slower than alone.
    """
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


def torch_threads(requested: int | None, n_parameters: int) -> tuple[int, str]:
    """The config's `torch_threads`, or when it is null default_threads within the cores this run
    may use (its launcher share, or every available core when it runs alone); with the reason,
    for the log."""
    if requested:
        return int(requested), f"torch_threads={int(requested)}"
    share = launcher_share()
    cores = available_cores() if share is None else share
    where = "" if share is None else f" within this job's share of {share} cores"
    reason = f"default for a network of {n_parameters:,} parameters{where}; torch_threads=N to change"
    return default_threads(n_parameters, cores), reason
