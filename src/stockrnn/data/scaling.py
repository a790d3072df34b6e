"""Per-column scalers kept as plain numbers, so a checkpoint stores them without pickling objects."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from stockrnn.errors import StockrnnError

SCALERS = ("minmax", "standard", "none")
# Scaled inputs outside these bounds lie far outside the training rows, where the network's output
# means little: minmax maps the training range onto [0, 1], and [-1, 2] allows one more training
# range on either side; standard allows 5 training standard deviations. `none` has no reference.
TRAINED_BOUNDS = {"minmax": (-1.0, 2.0), "standard": (-5.0, 5.0)}


@dataclass(frozen=True)
class Scaler:
    """x_scaled = (x - offset) / scale, one offset and scale per column."""

    kind: str
    offset: tuple[float, ...]
    scale: tuple[float, ...]

    @classmethod
    def fit(cls, kind: str, values: np.ndarray) -> "Scaler":
        """Fit on `values` (rows x columns): callers pass training rows only."""
        values = np.asarray(values, dtype=np.float64).reshape(len(values), -1)
        if kind == "minmax":  # sklearn's MinMaxScaler with feature_range (0, 1), as in the tutorial
            offset, scale = values.min(axis=0), values.max(axis=0) - values.min(axis=0)
        elif kind == "standard":
            offset, scale = values.mean(axis=0), values.std(axis=0)
        elif kind == "none":
            offset, scale = np.zeros(values.shape[1]), np.ones(values.shape[1])
        else:
            raise StockrnnError(f"data.scaler='{kind}' is not known; expected one of {', '.join(SCALERS)}")
        scale = np.where(scale > 0, scale, 1.0)  # a constant column maps to 0, not to NaN
        return cls(kind, tuple(map(float, offset)), tuple(map(float, scale)))

    def transform_columns(self, columns: list[np.ndarray]) -> torch.Tensor:
        """Scale columns straight into one float32 (rows x columns) tensor, in place: no float64
        temporaries the size of the series."""
        out = torch.empty(len(columns[0]), len(columns), dtype=torch.float32)
        for j, column in enumerate(columns):
            out.numpy()[:, j] = column  # numpy casts float64 -> float32 while copying
        return out.sub_(torch.tensor(self.offset)).div_(torch.tensor(self.scale))

    def far_outside_training(self, scaled: np.ndarray) -> list[int]:
        """The columns of scaled inputs (rows x columns) with a value beyond TRAINED_BOUNDS."""
        if self.kind not in TRAINED_BOUNDS:
            return []
        low, high = TRAINED_BOUNDS[self.kind]
        return [j for j in range(scaled.shape[1]) if ((scaled[:, j] < low) | (scaled[:, j] > high)).any()]

    def to_dict(self) -> dict:
        return {"kind": self.kind, "offset": list(self.offset), "scale": list(self.scale)}

    @classmethod
    def from_dict(cls, state: dict) -> "Scaler":
        return cls(state["kind"], tuple(state["offset"]), tuple(state["scale"]))


