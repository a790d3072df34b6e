"""One recurrent network for every cell: RNN, LSTM or GRU, one- or bidirectional, linear head
(one output per step for a point forecast, several for a distribution: see distributions.py)."""

from __future__ import annotations

import torch
from torch import nn

CELLS = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}


class RecurrentNetwork(nn.Module):
    """(batch, n_steps, n_features) -> (batch, horizon), or (batch, horizon, outputs_per_step).

    With series_embedding > 0 (a panel, see data/datamodule.py) each of the n_series series has a learned
    vector of that size, appended to every step's inputs: the static covariate that lets one global
    network treat its series differently.
    """

    def __init__(self, n_features: int, horizon: int = 1, cell: str = "lstm", hidden_size: int = 64,
                 num_layers: int = 1, dropout: float = 0.0, bidirectional: bool = False,
                 nonlinearity: str = "tanh", outputs_per_step: int = 1, n_series: int = 1,
                 series_embedding: int = 0):
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"model.cell='{cell}' is not known; expected one of {', '.join(CELLS)}")
        extra = {"nonlinearity": nonlinearity} if cell == "rnn" else {}
        self.series_embedding = nn.Embedding(n_series, series_embedding) if series_embedding else None
        self.rnn = getattr(nn, CELLS[cell])(
            input_size=n_features + series_embedding, hidden_size=hidden_size, num_layers=num_layers,
            # torch applies dropout between layers only; with one layer it would just warn.
            dropout=dropout if num_layers > 1 else 0.0,
            bidirectional=bidirectional, batch_first=True, **extra,
        )
        self.directions = 2 if bidirectional else 1
        # The same rate on the last layer's output, before the head: without it a one-layer
        # network would ignore model.dropout, the search space's regulariser included.
        self.head_dropout = nn.Dropout(dropout)
        self.horizon, self.outputs_per_step = horizon, outputs_per_step
        self.head = nn.Linear(self.directions * hidden_size, horizon * outputs_per_step)

    def final_states(self, x: torch.Tensor) -> torch.Tensor:
        """Last layer's final state of each direction, concatenated: (batch, directions * hidden).

        The backward direction ends at the first step, so this is not out[:, -1], whose
        backward half has seen only the last step.
        """
        _, state = self.rnn(x)
        h_n = state[0] if isinstance(state, tuple) else state  # the LSTM also returns its cell state
        last_layer = h_n[-self.directions:]  # (directions, batch, hidden)
        return last_layer.transpose(0, 1).reshape(x.shape[0], -1)

    def forward(self, x: torch.Tensor, series: torch.Tensor | None = None) -> torch.Tensor:
        """series: each window's series index (batch,), read only with a series embedding."""
        if self.series_embedding is not None:
            if series is None:
                series = torch.zeros(x.shape[0], dtype=torch.long, device=x.device)
            identity = self.series_embedding(series)[:, None, :].expand(-1, x.shape[1], -1)
            x = torch.cat([x, identity], dim=-1)
        outputs = self.head(self.head_dropout(self.final_states(x)))
        if self.outputs_per_step == 1:
            return outputs
        return outputs.reshape(x.shape[0], self.horizon, self.outputs_per_step)
