# TEMPORARY stub (not committed)
import pandas as pd, numpy as np
from stockrnn.metrics import error_metrics, skill
def per_series_table(val, test):
    rows=[]
    for name in dict.fromkeys(test.series):
        t=test.of_series(name); v=val.of_series(name)
        r=error_metrics(t.actual,t.predicted,t.last_known)["rmse"]; p=error_metrics(t.actual,t.persistence,t.last_known)["rmse"]
        vr=error_metrics(v.actual,v.predicted,v.last_known)["rmse"]; vp=error_metrics(v.actual,v.persistence,v.last_known)["rmse"]
        rows.append(dict(series=name,n_test=len(t.actual),rmse=r,persistence_rmse=p,skill=skill(r,p),val_rmse=vr,persistence_val_rmse=vp))
    return pd.DataFrame(rows)
def panel_metrics(per_series, test):
    return {"n_series": len(per_series), "skill_mean": float(per_series.skill.mean()), "objective": float((per_series.val_rmse/per_series.persistence_val_rmse).mean())}
