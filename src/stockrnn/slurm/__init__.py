"""What the SLURM launcher adds to hydra-submitit-launcher's: a request checked against the cluster
before it is submitted, and jobs watched until each has a result or an end."""
