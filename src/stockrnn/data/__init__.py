"""Data: CSV -> validated price frame -> scaled series -> windows -> LightningDataModule."""
