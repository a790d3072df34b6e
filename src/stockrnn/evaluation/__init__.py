"""Everything after the forecasts exist: the forecast table, metrics, baselines, significance tests,
calibration and interval scores. Reads forecasts, never the DataModule."""
