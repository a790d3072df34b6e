"""One network class for every cell; the bidirectional head reads each direction's final state."""

import pytest
import torch

from stockrnn.models.network import RecurrentNetwork


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_every_cell_maps_windows_to_horizon_outputs(cell, bidirectional):
    net = RecurrentNetwork(n_features=3, horizon=4, cell=cell, hidden_size=8, num_layers=2,
                           dropout=0.1, bidirectional=bidirectional)
    assert net(torch.randn(5, 7, 3)).shape == (5, 4)


def test_unknown_cell_lists_the_valid_ones():
    with pytest.raises(ValueError, match="expected one of rnn, lstm, gru"):
        RecurrentNetwork(n_features=1, cell="transformer")


def test_plain_rnn_takes_the_tutorials_relu():
    assert RecurrentNetwork(1, cell="rnn", nonlinearity="relu").rnn.nonlinearity == "relu"


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_bidirectional_head_uses_the_backward_state_after_the_first_step(cell):
    torch.manual_seed(0)
    hidden = 6
    net = RecurrentNetwork(n_features=2, cell=cell, hidden_size=hidden, num_layers=2, bidirectional=True)
    x = torch.randn(4, 9, 2)
    out, _ = net.rnn(x)
    states = net.final_states(x)
    # Forward half: the last step; backward half: the first step, having read the whole window.
    torch.testing.assert_close(states[:, :hidden], out[:, -1, :hidden])
    torch.testing.assert_close(states[:, hidden:], out[:, 0, hidden:])
    assert not torch.allclose(states[:, hidden:], out[:, -1, hidden:])


def test_bidirectional_forecast_depends_on_the_whole_window_through_the_backward_state():
    torch.manual_seed(0)
    net = RecurrentNetwork(n_features=1, cell="rnn", hidden_size=4, bidirectional=True)
    with torch.no_grad():  # silence the forward direction: only the backward state reaches the head
        net.head.weight[:, :4] = 0
    x = torch.randn(1, 6, 1)
    changed = x.clone()
    changed[0, 0, 0] += 1.0  # the oldest day: out[:, -1]'s backward half never saw it
    assert not torch.allclose(net(x), net(changed))


def test_dropout_reaches_a_one_layer_network_before_its_head():
    # torch's own dropout acts between stacked layers only: a one-layer search over
    # model.dropout would otherwise be a search over nothing.
    torch.manual_seed(0)
    net = RecurrentNetwork(n_features=2, cell="lstm", hidden_size=16, num_layers=1, dropout=0.5)
    x = torch.randn(8, 5, 2)
    assert not torch.allclose(net(x), net(x))  # training: a fresh mask each call
    net.eval()
    torch.testing.assert_close(net(x), net(x))

