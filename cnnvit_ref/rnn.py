"""Recurrent networks written from their equations: the Elman RNN and the LSTM, with ``torch.nn``'s parameters.

Chapter
    02, ``book/02_rnn_lstm.ipynb`` (exercise: ``exercises/02_rnn_lstm/``)
Papers
    Elman, "Finding Structure in Time", Cognitive Science 14(2), 1990.
    https://doi.org/10.1207/s15516709cog1402_1 (the simple recurrent network: h_t from x_t and h_{t-1})
    Hochreiter & Schmidhuber, "Long Short-Term Memory", Neural Computation 9(8), 1997.
    https://doi.org/10.1162/neco.1997.9.8.1735 (Sec. 4: the memory cell and its input/output gates)
    Gers, Schmidhuber & Cummins, "Learning to Forget: Continual Prediction with LSTM", Neural Computation
    12(10), 2000. https://doi.org/10.1162/089976600300015015 (Sec. 3: the forget gate)
    Bengio, Simard & Frasconi, "Learning Long-Term Dependencies with Gradient Descent is Difficult", IEEE
    Trans. Neural Networks 5(2), 1994. https://doi.org/10.1109/72.279181 (vanishing gradients through time)
    Pascanu, Mikolov & Bengio, "On the difficulty of training recurrent neural networks", ICML 2013.
    https://arxiv.org/abs/1211.5063 (Sec. 2: exploding and vanishing gradients, the linear case)
    Kim, "Convolutional Neural Networks for Sentence Classification", EMNLP 2014.
    https://arxiv.org/abs/1408.5882 (Sec. 2: the text CNN compared with the LSTM)
Official code
    torch's ``torch/nn/modules/rnn.py`` (``nn.RNNCell``, ``nn.LSTMCell``, ``nn.RNN``, ``nn.LSTM``) and the
    functional ``torch.rnn_tanh_cell`` / ``torch.rnn_relu_cell`` / ``torch.lstm_cell`` (the twins);
    https://github.com/yoonkim/CNN_sentence (the text CNN)
Symbols in the shape comments
    B batch, T time steps, I input_size, H hidden_size (torch's symbol; there are no images in this
    module), gates 1 (RNN) or 4 (LSTM: i, f, g, o), layers num_layers, D embedding dims, F filters per
    kernel width, K number of kernel widths

The equations (torch's conventions, which the parameters below follow exactly)::

    RNN:   h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)
    LSTM:  i, f, g, o = chunk4(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)   # gate order i, f, g, o
           i, f, o = sigmoid(i), sigmoid(f), sigmoid(o);  g = tanh(g)
           c_t = f * c_{t-1} + i * g
           h_t = o * tanh(c_t)

Layout mirrors ``torch.nn``: :class:`RNNCell`, :class:`LSTMCell`, :class:`RNN` and :class:`LSTM` have the
parameter names, shapes, default initialisation and forward signatures of ``nn.RNNCell``, ``nn.LSTMCell``,
``nn.RNN`` and ``nn.LSTM`` (so ``load_state_dict(strict=True)`` works both ways), but no cuDNN/``_VF``
kernel: every step is a few tensor operations you can read. Only the recurrence is sequential: the input
projection ``x_t W_ih^T`` of all time steps is one matmul before the loop, while ``h_{t-1} W_hh^T`` must
wait for the previous step. That wait is why an RNN cannot be parallelised over time, unlike a
convolution or attention. Also here: the small models of the chapter's experiments (:class:`TextCNN`,
:class:`RecurrentNet`) and its helpers (:func:`gradient_norms_through_time`, :func:`recurrent_num_params`).
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from ._validate import check_same_device_dtype, check_tensor, positive_int, positive_ints

__all__ = [
    "rnn_tanh_cell",
    "rnn_relu_cell",
    "lstm_cell",
    "RNNCell",
    "LSTMCell",
    "RNN",
    "LSTM",
    "TextCNN",
    "RecurrentNet",
    "gradient_norms_through_time",
    "recurrent_num_params",
]

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4}


# --------------------------------------------------------------------------------------------
# math helpers: one time step
# --------------------------------------------------------------------------------------------


def rnn_tanh_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):
    """One Elman step ``h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)``, like ``torch.rnn_tanh_cell``.

    ``input`` (B, I) or (I,), ``hx`` (B, H) or (H,), ``w_ih`` (H, I), ``w_hh`` (H, H), biases (H,).
    """
    _check_cell("rnn_tanh_cell", input, hx, w_ih, w_hh, b_ih, b_hh, gates=1)
    return torch.tanh(F.linear(input, w_ih, b_ih) + F.linear(hx, w_hh, b_hh))  # (B, H)


def rnn_relu_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):
    """One step with a ReLU, ``h' = relu(x W_ih^T + b_ih + h W_hh^T + b_hh)``, like ``torch.rnn_relu_cell``."""
    _check_cell("rnn_relu_cell", input, hx, w_ih, w_hh, b_ih, b_hh, gates=1)
    return torch.relu(F.linear(input, w_ih, b_ih) + F.linear(hx, w_hh, b_hh))  # (B, H)


def _lstm_update(gates: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """From the pre-activations ``gates`` (..., 4H), gate order i, f, g, o, to ``(h', c')``."""
    i, f, g, o = gates.chunk(4, dim=-1)  # 4 x (..., H)
    i = torch.sigmoid(i)  # input gate: how much of the candidate to write
    f = torch.sigmoid(f)  # forget gate (Gers et al. 2000): how much of the old cell to keep
    g = torch.tanh(g)  # candidate cell content
    o = torch.sigmoid(o)  # output gate: how much of the cell to expose
    c = f * c + i * g  # (..., H) the additive path that lets gradients survive
    h = o * torch.tanh(c)  # (..., H)
    return h, c


def lstm_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):
    """One LSTM step, like ``torch.lstm_cell``: returns ``(h', c')``.

    ``input`` (B, I) or (I,); ``hx = (h, c)``, each (B, H) or (H,); ``w_ih`` (4H, I);
    ``w_hh`` (4H, H); ``b_ih``, ``b_hh`` (4H,) or None. The four row blocks of the weights are
    the gates in torch's order i, f, g, o (input, forget, cell candidate, output).
    """
    h, c = _check_lstm_cell(input, hx, w_ih, w_hh, b_ih, b_hh)
    gates = F.linear(input, w_ih, b_ih) + F.linear(h, w_hh, b_hh)  # (B, 4H)
    return _lstm_update(gates, c)


# --------------------------------------------------------------------------------------------
# blocks: cells (one time step, with parameters)
# --------------------------------------------------------------------------------------------


class _CellBase(nn.Module):
    """Parameters ``weight_ih``, ``weight_hh``, ``bias_ih``, ``bias_hh`` as in ``nn.RNNCellBase``."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool, gates: int, device=None, dtype=None):
        super().__init__()
        self.input_size, self.hidden_size = positive_ints(type(self).__name__, input_size=input_size,
                                                          hidden_size=hidden_size)
        self.bias = bool(bias)
        kw = {"device": device, "dtype": dtype}
        self.weight_ih = nn.Parameter(torch.empty(gates * hidden_size, input_size, **kw))
        self.weight_hh = nn.Parameter(torch.empty(gates * hidden_size, hidden_size, **kw))
        if bias:
            self.bias_ih = nn.Parameter(torch.empty(gates * hidden_size, **kw))
            self.bias_hh = nn.Parameter(torch.empty(gates * hidden_size, **kw))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """torch's default: every parameter ~ U(-1/sqrt(H), 1/sqrt(H)), in registration order."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def _zeros(self, input: torch.Tensor) -> torch.Tensor:
        shape = (input.shape[0], self.hidden_size) if input.dim() == 2 else (self.hidden_size,)
        return torch.zeros(shape, dtype=input.dtype, device=input.device)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        return s + ("" if self.bias else ", bias=False")


class RNNCell(_CellBase):
    """Elman cell ``h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)`` (or ReLU), like ``nn.RNNCell``.

    ``forward(input, hx=None)``: input (B, I) or (I,), hx (B, H) or (H,) (zeros when None);
    returns h' of the shape of hx.
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh",
                 device=None, dtype=None):
        _check_nonlinearity("RNNCell", nonlinearity)
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, bias, gates=1, device=device, dtype=dtype)

    def forward(self, input: torch.Tensor, hx: torch.Tensor | None = None) -> torch.Tensor:
        check_tensor("RNNCell.forward", "input", input, ndim=(1, 2), layout="(B, input_size) or (input_size,)")
        if hx is None:
            hx = self._zeros(input)  # (B, H) or (H,)
        step = rnn_tanh_cell if self.nonlinearity == "tanh" else rnn_relu_cell
        return step(input, hx, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)  # (B, H) or (H,)

    def extra_repr(self) -> str:
        s = super().extra_repr()
        return s + ("" if self.nonlinearity == "tanh" else f", nonlinearity={self.nonlinearity!r}")


class LSTMCell(_CellBase):
    """LSTM cell with a forget gate, like ``nn.LSTMCell`` (gate order i, f, g, o in the weights).

    ``forward(input, hx=None)``: input (B, I) or (I,), hx = (h, c) each (B, H) or (H,) (zeros when
    None); returns (h', c').
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, gates=4, device=device, dtype=dtype)

    def forward(self, input: torch.Tensor, hx: tuple[torch.Tensor, torch.Tensor] | None = None):
        check_tensor("LSTMCell.forward", "input", input, ndim=(1, 2), layout="(B, input_size) or (input_size,)")
        if hx is None:
            zeros = self._zeros(input)  # (B, H) or (H,)
            hx = (zeros, zeros)
        return lstm_cell(input, hx, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)


# --------------------------------------------------------------------------------------------
# blocks: layers (a whole sequence, several layers)
# --------------------------------------------------------------------------------------------


class _RecurrentBase(nn.Module):
    """Multi-layer recurrence with ``nn.RNNBase``'s parameters: ``weight_ih_l{k}``, ``weight_hh_l{k}``,
    ``bias_ih_l{k}``, ``bias_hh_l{k}`` for layer k (unidirectional)."""

    mode = "RNN_TANH"

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, device=None, dtype=None):
        super().__init__()
        self.input_size, self.hidden_size, self.num_layers = _check_recurrent_layer(
            type(self).__name__, input_size, hidden_size, num_layers, dropout)
        self.bias = bool(bias)
        self.batch_first = bool(batch_first)
        self.dropout = float(dropout)
        gates = _GATES[self.mode]
        kw = {"device": device, "dtype": dtype}
        for layer in range(num_layers):
            in_size = input_size if layer == 0 else hidden_size
            # Registration order = nn.RNNBase's order, so that the same seed gives the same init.
            setattr(self, f"weight_ih_l{layer}", nn.Parameter(torch.empty(gates * hidden_size, in_size, **kw)))
            setattr(self, f"weight_hh_l{layer}", nn.Parameter(torch.empty(gates * hidden_size, hidden_size, **kw)))
            if bias:
                setattr(self, f"bias_ih_l{layer}", nn.Parameter(torch.empty(gates * hidden_size, **kw)))
                setattr(self, f"bias_hh_l{layer}", nn.Parameter(torch.empty(gates * hidden_size, **kw)))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """torch's default: every parameter ~ U(-1/sqrt(H), 1/sqrt(H)), in registration order."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def _layer_weights(self, layer: int):
        w_ih = getattr(self, f"weight_ih_l{layer}")
        w_hh = getattr(self, f"weight_hh_l{layer}")
        if not self.bias:
            return w_ih, w_hh, None
        return w_ih, w_hh, getattr(self, f"bias_ih_l{layer}") + getattr(self, f"bias_hh_l{layer}")

    def _step(self, x_proj_t, state, w_hh_t):
        """One step from the precomputed input projection; subclasses define the update."""
        raise NotImplementedError

    def _run(self, x: torch.Tensor, states: list):
        """Run every layer over the sequence.

        ``x`` is the (batched) input in the module's layout, (T, B, I) or with ``batch_first``
        (B, T, I); ``states`` holds per layer a tuple of (B, H) tensors. Returns the last layer's
        output in the same layout and the final state of every layer.
        """
        time_dim = 1 if self.batch_first else 0
        finals = []
        for layer in range(self.num_layers):
            w_ih, w_hh, bias = self._layer_weights(layer)
            # The input projection of every time step in one matmul, in the input's own layout
            # (no transposed copy of x); unbind, not x_proj[t]: the backward of one unbind is one
            # stack, whereas each x_proj[t] would allocate a zero gradient as large as x_proj.
            x_proj = F.linear(x, w_ih, bias)  # (T, B, gates*H) or (B, T, gates*H)
            x_proj_steps = x_proj.unbind(time_dim)  # T x (B, gates*H)
            w_hh_t = w_hh.t()  # (H, gates*H)
            state = states[layer]
            outputs = []
            for x_proj_t in x_proj_steps:  # the sequential part: step t needs h_{t-1}
                state = self._step(x_proj_t, state, w_hh_t)
                outputs.append(state[0])
            x = torch.stack(outputs, dim=time_dim)  # (T, B, H) or (B, T, H)
            finals.append(state)
            if self.dropout > 0.0 and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, p=self.dropout, training=True)
        return x, finals

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        return s


class RNN(_RecurrentBase):
    """Multi-layer Elman RNN, like ``nn.RNN`` (unidirectional; no PackedSequence).

    ``forward(input, hx=None)``: input (T, B, I), or (B, T, I) with ``batch_first``, or unbatched
    (T, I); hx (num_layers, B, H) or (num_layers, H). Returns ``output`` (T, B, H) / (B, T, H) /
    (T, H), the last layer's h_t for every t, and ``h_n`` (num_layers, B, H), every layer's last h.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, nonlinearity: str = "tanh",
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0, device=None, dtype=None):
        _check_nonlinearity("RNN", nonlinearity)
        self.mode = "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU"
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, device, dtype)

    def _step(self, x_proj_t, state, w_hh_t):
        pre = torch.addmm(x_proj_t, state[0], w_hh_t)  # (B, H)
        return (torch.tanh(pre) if self.nonlinearity == "tanh" else torch.relu(pre),)

    def forward(self, input: torch.Tensor, hx: torch.Tensor | None = None):
        batched = _check_rnn_forward(self, input, hx)
        x = input if batched else input.unsqueeze(1 - int(self.batch_first))  # (T, B, I) or (B, T, I)
        B = x.shape[0] if self.batch_first else x.shape[1]
        if hx is None:
            h0 = x.new_zeros(self.num_layers, B, self.hidden_size)  # (layers, B, H)
        else:
            h0 = hx if batched else hx.unsqueeze(1)  # (layers, B, H)
        output, finals = self._run(x, [(h0[k],) for k in range(self.num_layers)])
        h_n = torch.stack([s[0] for s in finals])  # (layers, B, H)
        if not batched:
            output, h_n = output.squeeze(1 - int(self.batch_first)), h_n.squeeze(1)  # (T, H), (layers, H)
        return output, h_n

    def extra_repr(self) -> str:
        s = super().extra_repr()
        return s + ("" if self.nonlinearity == "tanh" else f", nonlinearity={self.nonlinearity!r}")


class LSTM(_RecurrentBase):
    """Multi-layer LSTM, like ``nn.LSTM`` (unidirectional; no projections; no PackedSequence).

    ``forward(input, hx=None)``: input (T, B, I), or (B, T, I) with ``batch_first``, or unbatched
    (T, I); ``hx = (h_0, c_0)``, each (num_layers, B, H) or (num_layers, H). Returns
    ``output, (h_n, c_n)``: output (T, B, H) / (B, T, H) / (T, H) holds the last layer's h_t for
    every t; h_n and c_n (num_layers, B, H) hold every layer's final states.
    """

    mode = "LSTM"

    def _step(self, x_proj_t, state, w_hh_t):
        h, c = state
        gates = torch.addmm(x_proj_t, h, w_hh_t)  # (B, 4H): only this matmul is sequential
        return _lstm_update(gates, c)

    def forward(self, input: torch.Tensor, hx: tuple[torch.Tensor, torch.Tensor] | None = None):
        batched = _check_lstm_forward(self, input, hx)
        x = input if batched else input.unsqueeze(1 - int(self.batch_first))  # (T, B, I) or (B, T, I)
        B = x.shape[0] if self.batch_first else x.shape[1]
        if hx is None:
            h0 = c0 = x.new_zeros(self.num_layers, B, self.hidden_size)  # (layers, B, H)
        else:
            h0, c0 = (hx[0], hx[1]) if batched else (hx[0].unsqueeze(1), hx[1].unsqueeze(1))  # (layers, B, H)
        output, finals = self._run(x, [(h0[k], c0[k]) for k in range(self.num_layers)])
        h_n = torch.stack([s[0] for s in finals])  # (layers, B, H)
        c_n = torch.stack([s[1] for s in finals])  # (layers, B, H)
        if not batched:
            output = output.squeeze(1 - int(self.batch_first))  # (T, H)
            h_n, c_n = h_n.squeeze(1), c_n.squeeze(1)  # (layers, H)
        return output, (h_n, c_n)


# --------------------------------------------------------------------------------------------
# models for the chapter's experiments
# --------------------------------------------------------------------------------------------


class TextCNN(nn.Module):
    """A text CNN (Kim 2014): embeddings -> 1-D convolutions of several widths -> ReLU ->
    max-pooling over time -> dropout -> linear.

    Each filter of width k is an n-gram detector (n = k); max-pooling keeps how strongly it
    fired *somewhere* and throws away *where*, so the model sees which n-grams occur, not their
    order or distance. ``forward(tokens)``: int64 (B, T) with T >= max(kernel_sizes) -> logits
    (B, num_classes).
    """

    def __init__(self, vocab_size: int, embed_dim: int, num_classes: int, kernel_sizes: Sequence[int] = (3, 4, 5),
                 num_filters: int = 100, dropout: float = 0.5, padding_idx: int | None = 0):
        super().__init__()
        self.kernel_sizes = _check_text_cnn(vocab_size, embed_dim, num_classes, kernel_sizes, num_filters)
        self.num_filters = num_filters
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=padding_idx)
        self.convs = nn.ModuleList(nn.Conv1d(embed_dim, num_filters, k) for k in self.kernel_sizes)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(num_filters * len(self.kernel_sizes), num_classes)

    def ngram_activations(self, tokens: torch.Tensor) -> list[torch.Tensor]:
        """Per kernel width k, the ReLU'd filter responses at every position: (B, num_filters, T - k + 1)."""
        _check_tokens(tokens, self.kernel_sizes)
        x = self.embedding(tokens).transpose(1, 2)  # (B, D, T): channels = embedding dims
        return [torch.relu(conv(x)) for conv in self.convs]  # each (B, F, T - k + 1)

    def forward_features(self, tokens: torch.Tensor) -> torch.Tensor:
        """Max over time of every n-gram detector, concatenated: (B, num_filters * len(kernel_sizes))."""
        return torch.cat([a.amax(dim=-1) for a in self.ngram_activations(tokens)], dim=1)  # (B, F * K)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(features))  # (B, num_classes)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(tokens))  # (B, num_classes)

    def extra_repr(self) -> str:
        return f"kernel_sizes={self.kernel_sizes}, num_filters={self.num_filters}"


class RecurrentNet(nn.Module):
    """An RNN or LSTM with a linear read-out: a sequence classifier/regressor for the chapter.

    ``cell`` is ``"lstm"``, ``"rnn"`` (tanh) or ``"rnn_relu"``. Inputs are float features
    (B, T, input_size), or int64 token ids (B, T) when ``vocab_size`` is given (an embedding of
    ``input_size`` dims is then learnt). Outputs: (B, num_outputs) read from the last hidden
    state, or (B, T, num_outputs) at every step with ``per_step=True`` (e.g. the copy task).
    """

    def __init__(self, input_size: int, hidden_size: int, num_outputs: int, cell: str = "lstm",
                 num_layers: int = 1, vocab_size: int | None = None, per_step: bool = False):
        super().__init__()
        if cell not in ("lstm", "rnn", "rnn_relu"):
            raise ValueError(f"RecurrentNet(): argument 'cell' must be 'lstm', 'rnn' or 'rnn_relu', got {cell!r}")
        self.cell = cell
        self.per_step = bool(per_step)
        self.embedding = nn.Embedding(vocab_size, input_size) if vocab_size is not None else None
        if cell == "lstm":
            self.rnn = LSTM(input_size, hidden_size, num_layers, batch_first=True)
        else:
            nonlin = "tanh" if cell == "rnn" else "relu"
            self.rnn = RNN(input_size, hidden_size, num_layers, nonlinearity=nonlin, batch_first=True)
        self.head = nn.Linear(hidden_size, num_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_recurrent_net_input(x, token_ids=self.embedding is not None)
        if self.embedding is not None:
            x = self.embedding(x)  # (B, T, input_size)
        output, _ = self.rnn(x)  # (B, T, H)
        if self.per_step:
            return self.head(output)  # (B, T, num_outputs)
        return self.head(output[:, -1])  # (B, num_outputs)

    def extra_repr(self) -> str:
        return f"cell={self.cell!r}, per_step={self.per_step}"


# --------------------------------------------------------------------------------------------
# chapter helpers
# --------------------------------------------------------------------------------------------


def recurrent_num_params(mode: str, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True) -> int:
    """Parameters of a torch-layout RNN/LSTM: per layer ``gates * (H * (I + H) + 2H)``.

    ``mode`` is ``"rnn"`` (1 affine map per step) or ``"lstm"`` (4: one per gate, i, f, g, o).
    Both ``b_ih`` and ``b_hh`` are counted, as torch (and cuDNN) keep both.
    """
    I, H, num_layers = _check_recurrent_num_params(mode, input_size, hidden_size, num_layers)
    gates = 4 if mode == "lstm" else 1
    total = 0
    for layer in range(num_layers):
        in_size = I if layer == 0 else H
        total += gates * (H * (in_size + H) + (2 * H if bias else 0))
    return total


def _unroll(cell: nn.Module, inputs: torch.Tensor, hx, wrt: str) -> list[tuple[torch.Tensor, ...]]:
    """Run ``cell`` over the time axis of ``inputs`` (B, T, I): every step's state, as ``(h,)`` or ``(h, c)``."""
    states, state = [], hx
    for t in range(inputs.shape[1]):
        state = cell(inputs[:, t], state)
        states.append(tuple(state) if isinstance(state, (tuple, list)) else (state,))
    _check_cell_state(states[-1], wrt, cell)
    return states


def gradient_norms_through_time(
    cell: nn.Module,
    seq_len: int,
    batch_size: int = 8,
    *,
    inputs: torch.Tensor | None = None,
    hx=None,
    input_scale: float = 1.0,
    wrt: str = "h",
    seed: int = 0,
) -> torch.Tensor:
    """How the gradient of a loss at the last step reaches earlier states (BPTT, measured).

    Runs ``cell`` (an :class:`RNNCell`/:class:`LSTMCell` or torch's ``nn.RNNCell``/``nn.GRUCell``/
    ``nn.LSTMCell``: anything called as ``cell(x_t, state)``) over ``seq_len`` steps of seeded
    normal inputs times ``input_scale`` (or over ``inputs`` (B, T, input_size) when given), sets
    the loss ``L = sum(h_T)``, and returns ``norms`` (float64, on the CPU, shape (seq_len,)) with

        ``norms[k] = || dL / dh_{T-k} ||``  (Frobenius norm over batch and hidden units),

    so ``norms[0] = sqrt(B * H)`` and ``norms[k]`` is the gradient that survives k steps back.
    For an LSTM, ``wrt="c"`` measures ``dL/dc_{T-k}`` instead: the cell state, whose additive
    update ``c_t = f * c_{t-1} + i * g`` is the path that keeps gradients from vanishing.
    For a linear recurrence ``h_t = a h_{t-1} + ...`` the norms are exactly ``a^k sqrt(B H)``
    (vanishing for |a| < 1, exploding for |a| > 1: Bengio et al. 1994; Pascanu et al. 2013).
    """
    T, B = _check_gradient_norms_through_time(cell, seq_len, batch_size, inputs, wrt)
    p = next(cell.parameters())
    if inputs is None:
        gen = torch.Generator().manual_seed(seed)
        inputs = input_scale * torch.randn(B, T, cell.input_size, generator=gen, dtype=torch.float64)
        inputs = inputs.to(p.device, p.dtype)  # (B, T, I)
    inputs = inputs.detach().requires_grad_(True)  # so that the states carry gradients even for a frozen cell
    with torch.enable_grad():
        states = _unroll(cell, inputs, hx, wrt)  # T x (h_t,) or (h_t, c_t)
        tracked = [s[0 if wrt == "h" else 1] for s in states]  # T x (B, H)
        loss = states[-1][0].sum()
        grads = torch.autograd.grad(loss, tracked, allow_unused=True)
    norms = [torch.zeros((), dtype=torch.float64) if g is None else g.detach().double().norm() for g in grads]
    return torch.stack(norms[::-1]).cpu()  # (T,) index k = distance from the last step


# --------------------------------------------------------------------------------------------
# argument checks
# --------------------------------------------------------------------------------------------


def _check_cell(fn: str, input, h, w_ih, w_hh, b_ih, b_hh, gates: int) -> None:
    """Shapes of one step's input, state and weights (``gates`` row blocks of ``hidden_size`` rows)."""
    check_tensor(fn, "input", input, ndim=(1, 2), layout="(B, input_size) or (input_size,)", floating=True)
    check_tensor(fn, "w_ih", w_ih, ndim=2, layout="(gates * hidden_size, input_size)", floating=True)
    check_tensor(fn, "w_hh", w_hh, ndim=2, layout="(gates * hidden_size, hidden_size)", floating=True)
    check_tensor(fn, "b_ih", b_ih, ndim=1, layout="(gates * hidden_size,)", optional=True)
    check_tensor(fn, "b_hh", b_hh, ndim=1, layout="(gates * hidden_size,)", optional=True)
    check_tensor(fn, "hx", h, ndim=input.dim(), layout="(B, hidden_size)" if input.dim() == 2 else "(hidden_size,)")
    check_same_device_dtype(fn, "input", input, hx=h, w_ih=w_ih, w_hh=w_hh, b_ih=b_ih, b_hh=b_hh)
    H = w_hh.shape[1]
    if w_hh.shape[0] != gates * H:
        raise ValueError(
            f"{fn}(): argument 'w_hh' must have shape ({gates} * hidden_size, hidden_size) = ({gates * H}, {H}), "
            f"got {tuple(w_hh.shape)}"
        )
    if w_ih.shape != (gates * H, input.shape[-1]):
        raise ValueError(
            f"{fn}(): argument 'w_ih' must have shape ({gates} * hidden_size, input_size) = "
            f"({gates * H}, {input.shape[-1]}), got {tuple(w_ih.shape)}"
        )
    for name, b in (("b_ih", b_ih), ("b_hh", b_hh)):
        if b is not None and b.shape != (gates * H,):
            raise ValueError(f"{fn}(): argument '{name}' must have shape ({gates * H},), got {tuple(b.shape)}")
    if h.shape[-1] != H or (input.dim() == 2 and h.shape[0] != input.shape[0]):
        want = f"({input.shape[0]}, {H})" if input.dim() == 2 else f"({H},)"
        raise ValueError(f"{fn}(): argument 'hx' must have shape {want}, got {tuple(h.shape)}")


def _check_lstm_cell(input, hx, w_ih, w_hh, b_ih, b_hh) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`_check_cell` with 4 gates, and ``hx`` a pair ``(h, c)`` of equal shapes; returns ``(h, c)``."""
    fn = "lstm_cell"
    if not isinstance(hx, (tuple, list)) or len(hx) != 2:
        raise TypeError(f"{fn}(): argument 'hx' must be a pair (h, c) of tensors, got {type(hx).__name__}")
    h, c = hx
    _check_cell(fn, input, h, w_ih, w_hh, b_ih, b_hh, gates=4)
    check_tensor(fn, "hx[1] (c)", c, ndim=h.dim())
    if c.shape != h.shape:
        raise ValueError(
            f"{fn}(): the cell state hx[1] must have the shape of h {tuple(h.shape)}, got {tuple(c.shape)}"
        )
    return h, c


def _check_nonlinearity(fn: str, nonlinearity) -> None:
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"{fn}(): argument 'nonlinearity' must be 'tanh' or 'relu', got {nonlinearity!r}")


def _check_recurrent_layer(fn: str, input_size, hidden_size, num_layers, dropout) -> tuple[int, int, int]:
    """``(input_size, hidden_size, num_layers)``, each positive; ``dropout`` a number in [0, 1]."""
    sizes = positive_ints(fn, input_size=input_size, hidden_size=hidden_size, num_layers=num_layers)
    if not (isinstance(dropout, (int, float)) and 0.0 <= dropout <= 1.0) or isinstance(dropout, bool):
        raise ValueError(f"{fn}(): argument 'dropout' must be a number in [0, 1], got {dropout!r}")
    return sizes


def _check_sequence(layer: _RecurrentBase, input) -> bool:
    """A (T, B, I) / (B, T, I) or unbatched (T, I) float input with ``input_size`` features; True if batched."""
    fn = f"{type(layer).__name__}.forward"
    layout = "(B, T, input_size)" if layer.batch_first else "(T, B, input_size)"
    check_tensor(fn, "input", input, ndim=(2, 3), layout=f"{layout} or unbatched (T, input_size)", floating=True)
    if input.shape[-1] != layer.input_size:
        raise ValueError(
            f"{fn}(): argument 'input' must have input_size = {layer.input_size} features in its last dim, "
            f"got shape {tuple(input.shape)}"
        )
    return input.dim() == 3


def _check_state(layer: _RecurrentBase, name: str, h, input) -> None:
    """An initial state ``(num_layers, B, hidden_size)`` (unbatched: ``(num_layers, hidden_size)``)."""
    fn = f"{type(layer).__name__}.forward"
    batched = input.dim() == 3
    B = input.shape[0 if layer.batch_first else 1] if batched else 1
    want = (layer.num_layers, B, layer.hidden_size) if batched else (layer.num_layers, layer.hidden_size)
    layout = "(num_layers, B, hidden_size)" if batched else "(num_layers, hidden_size)"
    check_tensor(fn, name, h, ndim=len(want), layout=layout)
    if tuple(h.shape) != want:
        raise ValueError(f"{fn}(): argument '{name}' must have shape {want}, got {tuple(h.shape)}")
    check_same_device_dtype(fn, "input", input, **{name: h})


def _check_rnn_forward(layer: RNN, input, hx) -> bool:
    """The input and, if given, ``hx``; True if the input is batched."""
    batched = _check_sequence(layer, input)
    if hx is not None:
        _check_state(layer, "hx", hx, input)
    return batched


def _check_lstm_forward(layer: LSTM, input, hx) -> bool:
    """The input and, if given, ``hx = (h_0, c_0)``; True if the input is batched."""
    batched = _check_sequence(layer, input)
    if hx is not None:
        if not isinstance(hx, (tuple, list)) or len(hx) != 2:
            raise TypeError(
                f"LSTM.forward(): argument 'hx' must be a pair (h_0, c_0) of tensors, got {type(hx).__name__}"
            )
        _check_state(layer, "hx[0] (h_0)", hx[0], input)
        _check_state(layer, "hx[1] (c_0)", hx[1], input)
    return batched


def _check_text_cnn(vocab_size, embed_dim, num_classes, kernel_sizes, num_filters) -> tuple[int, ...]:
    """Positive sizes; ``kernel_sizes`` a non-empty sequence of positive ints, returned as a tuple."""
    fn = "TextCNN"
    positive_ints(fn, vocab_size=vocab_size, embed_dim=embed_dim, num_classes=num_classes, num_filters=num_filters)
    if not isinstance(kernel_sizes, (tuple, list)) or not kernel_sizes:
        raise TypeError(f"{fn}(): argument 'kernel_sizes' must be a non-empty tuple of ints, got {kernel_sizes!r}")
    return tuple(positive_int(fn, "kernel_sizes", k) for k in kernel_sizes)


def _check_tokens(tokens, kernel_sizes: tuple[int, ...]) -> None:
    """Integer token ids (B, T), at least as long as the widest filter."""
    fn = "TextCNN.forward"
    check_tensor(fn, "tokens", tokens, ndim=2, layout="(B, T) token ids")
    if tokens.dtype not in (torch.int64, torch.int32):
        raise TypeError(f"{fn}(): argument 'tokens' must hold integer token ids, got dtype {tokens.dtype}")
    T = tokens.shape[1]
    if T < max(kernel_sizes):
        raise ValueError(
            f"{fn}(): sequences must be at least max(kernel_sizes) = {max(kernel_sizes)} long, got T = {T}"
        )


def _check_recurrent_net_input(x, token_ids: bool) -> None:
    """Token ids (B, T) when the net has an embedding, else float features (B, T, input_size)."""
    if token_ids:
        check_tensor("RecurrentNet.forward", "x", x, ndim=2, layout="(B, T) token ids")
    else:
        check_tensor("RecurrentNet.forward", "x", x, ndim=3, layout="(B, T, input_size)", floating=True)


def _check_recurrent_num_params(mode, input_size, hidden_size, num_layers) -> tuple[int, int, int]:
    fn = "recurrent_num_params"
    if mode not in ("rnn", "lstm"):
        raise ValueError(f"{fn}(): argument 'mode' must be 'rnn' or 'lstm', got {mode!r}")
    return positive_ints(fn, input_size=input_size, hidden_size=hidden_size, num_layers=num_layers)


def _check_gradient_norms_through_time(cell, seq_len, batch_size, inputs, wrt) -> tuple[int, int | None]:
    """``(T, B)``: the number of steps, and the batch size when the inputs are drawn here (else None)."""
    fn = "gradient_norms_through_time"
    if not isinstance(cell, nn.Module):
        raise TypeError(f"{fn}(): argument 'cell' must be a recurrent cell (nn.Module), got {type(cell).__name__}")
    if wrt not in ("h", "c"):
        raise ValueError(f"{fn}(): argument 'wrt' must be 'h' or 'c', got {wrt!r}")
    T = positive_int(fn, "seq_len", seq_len)
    if inputs is None:
        return T, positive_int(fn, "batch_size", batch_size)
    check_tensor(fn, "inputs", inputs, ndim=3, layout="(B, T, input_size)", floating=True)
    if inputs.shape[1] != T:
        raise ValueError(
            f"{fn}(): argument 'inputs' must have seq_len = {T} steps in dim 1, got shape {tuple(inputs.shape)}"
        )
    return T, None


def _check_cell_state(state: tuple, wrt: str, cell: nn.Module) -> None:
    """``wrt="c"`` needs a cell whose state is a pair ``(h, c)``."""
    if wrt == "c" and len(state) < 2:
        raise ValueError(
            f"gradient_norms_through_time(): wrt='c' needs a cell with a cell state (an LSTM cell), "
            f"got {type(cell).__name__}"
        )
