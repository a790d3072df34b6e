"""stockrnn's SLURM launcher, a Hydra plugin (Hydra instantiates launchers only from hydra_plugins)."""
