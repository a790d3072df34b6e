"""hydra-submitit-launcher's SlurmLauncher, made to say when a sweep can never run: a request no node
of the partition can hold is refused before anything is submitted; a job pending for a reason that
never clears ends the sweep; a job that ends without a result (scancel, preemption) is recorded as
failed with its SLURM state, and the other jobs' results are kept."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, filter_overrides
from hydra.types import HydraContext, TaskFunction
from hydra_plugins.hydra_submitit_launcher import submitit_launcher  # the module: Hydra's scan lists
from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf  # plugins by the module they sit in
from omegaconf import DictConfig, OmegaConf, open_dict

log = logging.getLogger(__name__)


class StockrnnSlurmLauncher(submitit_launcher.SlurmLauncher):
    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        # Hydra sets the launcher up before the sweeper writes anything: a refusal here leaves no files.
        from stockrnn.slurm.request import refuse_unfit_request
        from stockrnn.utils.entry import user_errors_exit

        with user_errors_exit():
            refuse_unfit_request(self.params)
        super().setup(hydra_context=hydra_context, task_function=task_function, config=config)

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        from stockrnn.slurm.watch import Watch
        from stockrnn.utils.entry import user_errors_exit

        with user_errors_exit():
            jobs = self.submit(job_overrides, initial_job_idx)
            ended = Watch(jobs).wait()
        return [self.ended_job(job, ended[i], overrides, initial_job_idx + i) if i in ended
                else job.results()[0] for i, (job, overrides) in enumerate(zip(jobs, job_overrides))]

    def submit(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> list:
        """The base launcher's launch up to its wait (its code, which has no smaller parts to call):
        one array job per Hydra job. An sbatch refusal becomes a StockrnnError."""
        import submitit

        from stockrnn.errors import StockrnnError

        init_keys = {"submitit_folder", "max_num_timeout"}
        timeouts = {f"{self._EXECUTOR}_max_num_timeout": self.params["max_num_timeout"]}
        executor = submitit.AutoExecutor(cluster=self._EXECUTOR, folder=self.params["submitit_folder"],
                                         **timeouts)
        base = set(OmegaConf.structured(BaseQueueConf).keys())
        executor.update_parameters(**{k if k in base else f"{self._EXECUTOR}_{k}": v
                                      for k, v in self.params.items() if k not in init_keys})
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        log.info(f"Submitit '{self._EXECUTOR}' sweep output dir : {sweep_dir}")
        sweep_dir.mkdir(parents=True, exist_ok=True)
        if "mode" in self.config.hydra.sweep:
            os.chmod(sweep_dir, mode=int(str(self.config.hydra.sweep.mode), 8))
        job_params = []
        for idx, overrides in enumerate(job_overrides, start=initial_job_idx):
            log.info(f"\t#{idx} : {' '.join(filter_overrides(overrides))}")
            job_params.append((list(overrides), "hydra.sweep.dir", idx, f"job_id_for_{idx}",
                               Singleton.get_state()))
        try:
            return executor.map_array(self, *zip(*job_params))
        except submitit.core.utils.FailedJobError as err:  # sbatch's own message, printed above it
            lines = [line.removeprefix("sbatch: error: ") for line in str(err).splitlines() if line.strip()]
            raise StockrnnError(f"sbatch refused this sweep's jobs: {lines[-1] if lines else err}; change "
                                "the hydra.launcher settings it names (e.g. constraint, exclude, qos, "
                                "account, partition)") from None

    def ended_job(self, job: Any, state: str, overrides: Sequence[str], idx: int) -> JobReturn:
        """A job that ended without a result: error.json in its directory (made if the job never
        started), as a failed job records it, and a return without a value, as such a job returns."""
        from stockrnn.slurm.watch import ended_message
        from stockrnn.utils.entry import ERROR_FILE, write_job_error

        config = self.hydra_context.config_loader.load_sweep_config(self.config, list(overrides))
        with open_dict(config.hydra.job):
            config.hydra.job.num = idx
            config.hydra.job.id = job.job_id
        job_dir = self.job_dir(config)
        task_overrides = OmegaConf.to_container(config.hydra.overrides.task)
        record = job_dir / str(config.hydra.output_subdir or ".hydra") / "overrides.yaml"
        if not record.is_file():  # cancelled before it started: the summary finds a job by this file
            record.parent.mkdir(parents=True, exist_ok=True)
            OmegaConf.save(OmegaConf.create(task_overrides), record)
        if not (job_dir / ERROR_FILE).is_file() and not (job_dir / "metrics.json").is_file():
            write_job_error(job_dir, ended_message(job, state), "SlurmJobEnded", slurm_state=state,
                            slurm_job_id=job.job_id)
        return JobReturn(overrides=task_overrides, working_dir=str(job_dir), status=JobStatus.COMPLETED,
                         task_name=config.hydra.job.name, _return_value=None)

    @staticmethod
    def job_dir(config: DictConfig) -> Path:
        """The job's directory, as Hydra's run_job names it (its interpolations may read ${hydra:...})."""
        previous = HydraConfig.instance().cfg
        HydraConfig.instance().set_config(config)
        try:
            return Path(str(config.hydra.sweep.dir)) / str(config.hydra.sweep.subdir)
        finally:
            HydraConfig.instance().cfg = previous  # as run_job restores it
