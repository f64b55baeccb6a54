"""Small models whose structure the theorems talk about.

Shapes: ``N`` batch, ``D`` flattened input dimension, ``C`` outputs (classes, or 1 for a binary
score), ``L`` number of linear layers. Every model maps ``x: (N, *input_shape)`` to ``(N, C)``;
MLP-type models flatten the input first, so ``(N, D)`` and image batches both work.

Conventions:

- Weights follow ``nn.Linear``: ``fc.weight`` has shape ``(out, in)``, so the papers'
  ``h = W1^T x + b1`` is ``fc1(x)`` with ``W1 = fc1.weight.T``.
- Every constructor takes an optional keyword ``generator: torch.Generator``. When given, the
  parameters are redrawn from it with PyTorch's default distribution (``U(-1/sqrt(fan_in),
  1/sqrt(fan_in))`` for weights and biases), so the same seed gives the same weights whatever
  the global RNG did. When omitted, PyTorch's default initialisation (global RNG) is kept.
- Models are built in float32 like any ``nn.Module``; call ``.double()`` for theory checks.
  Nothing here reads or sets a device.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import pairwise
from typing import Literal

import torch
from torch import Tensor, nn

Activation = Literal["relu", "tanh", "softplus", "identity"]
_ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "softplus": nn.Softplus,
    "identity": nn.Identity,
}
_HOMOGENEOUS = ("relu", "identity")  # positively 1-homogeneous activations


def _check_dims(**dims: int) -> None:
    """Raise ValueError unless every named dimension is a positive int."""
    for name, value in dims.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")


def _activation(name: str) -> nn.Module:
    """The activation module for ``name`` (ValueError naming the allowed values)."""
    if name not in _ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}, got {name!r}")
    return _ACTIVATIONS[name]()


@torch.no_grad()
def reinit_(module: nn.Module, generator: torch.Generator) -> nn.Module:
    """Redraw every Linear/Conv2d parameter of ``module`` from ``generator``, in place.

    Uses PyTorch's default distribution, U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and
    biases, so only the source of randomness changes. Returns ``module`` for chaining.
    """
    for layer in module.modules():
        if isinstance(layer, nn.Linear | nn.Conv2d):
            bound = 1.0 / math.sqrt(layer.weight[0].numel())
            layer.weight.uniform_(-bound, bound, generator=generator)
            if layer.bias is not None:
                layer.bias.uniform_(-bound, bound, generator=generator)
    return module


def _linear_stack(d_in: int, widths: Sequence[int], n_out: int, bias: bool) -> nn.ModuleList:
    """``nn.Linear`` layers d_in -> widths[0] -> ... -> n_out."""
    sizes = [d_in, *widths, n_out]
    _check_dims(**{f"size[{i}]": s for i, s in enumerate(sizes)})
    return nn.ModuleList(nn.Linear(a, b, bias=bias) for a, b in pairwise(sizes))


def _stack_forward(linears: Sequence[nn.Linear], act: nn.Module, x: Tensor) -> Tensor:
    """Apply ``linears`` with ``act`` between consecutive layers (none after the last)."""
    h = x.flatten(1)
    for linear in linears[:-1]:
        h = act(linear(h))
    return linears[-1](h)


class MLP(nn.Module):
    """Fully connected net z = W_L^T s(... s(W_1^T x + b_1) ...) + b_L.

    Args:
        d_in: D, the flattened input dimension.
        widths: hidden widths (may be empty: then the model is affine).
        n_out: C, the number of outputs.
        bias: whether every layer has a bias.
        activation: s, one of "relu", "tanh", "softplus", "identity".
        generator: if given, the initial parameters are drawn from it (module docstring).

    ``.linears`` lists the layers in order, so gates ``1[h_l > 0]`` can be read per layer.
    """

    def __init__(
        self,
        d_in: int,
        widths: Sequence[int],
        n_out: int,
        bias: bool = True,
        activation: Activation = "relu",
        *,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.act = _activation(activation)
        self.activation = activation
        self.linears = _linear_stack(d_in, widths, n_out, bias)
        if generator is not None:
            reinit_(self, generator)

    def forward(self, x: Tensor) -> Tensor:
        """Logits z: (N, C) for x: (N, *input_shape) with prod(input_shape) = D."""
        return _stack_forward(self.linears, self.act, x)


class TwoLayerReLU(nn.Module):
    """Two-layer ReLU net h = W1^T x + b1, z = W2^T relu(h) + b2 (layers ``fc1``, ``fc2``).

    The model of Cheng et al. (000/001, Sec. 3). ``W1 = fc1.weight.T`` (D, m) and
    ``W2 = fc2.weight.T`` (m, C); ``generator`` as in the module docstring.
    """

    activation = "relu"

    def __init__(
        self,
        d_in: int,
        width: int,
        n_out: int,
        bias: bool = True,
        *,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        _check_dims(d_in=d_in, width=width, n_out=n_out)
        self.fc1 = nn.Linear(d_in, width, bias=bias)
        self.fc2 = nn.Linear(width, n_out, bias=bias)
        self.act = nn.ReLU()
        if generator is not None:
            reinit_(self, generator)

    @property
    def linears(self) -> list[nn.Linear]:
        """The layers in order, ``[fc1, fc2]``."""
        return [self.fc1, self.fc2]

    def forward(self, x: Tensor) -> Tensor:
        """Logits z: (N, C) for x: (N, D)."""
        return self.fc2(self.act(self.fc1(x.flatten(1))))


class HomogeneousMLP(MLP):
    """Bias-free ReLU MLP, positively homogeneous of degree L in its parameters.

    f(c theta; x) = c^L f(theta; x) and f(theta; c x) = c f(theta; x) for c > 0, with L the
    number of linear layers (Lyu & Zhu 002, Sec. 2; ``homogeneity_degree``).
    """

    def __init__(
        self,
        d_in: int,
        widths: Sequence[int],
        n_out: int,
        *,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__(d_in, widths, n_out, bias=False, activation="relu", generator=generator)


class DeepLinear(MLP):
    """Bias-free deep linear net z = W_L ... W_1 x (Lyu & Zhu 002, deep linear networks)."""

    def __init__(
        self,
        d_in: int,
        widths: Sequence[int],
        n_out: int,
        *,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__(d_in, widths, n_out, bias=False, activation="identity",
                         generator=generator)

    def end_to_end_matrix(self) -> Tensor:
        """W = W_L ... W_1 of shape (C, D) (``nn.Linear`` layout), so that z = x @ W.T."""
        product = self.linears[0].weight
        for linear in self.linears[1:]:
            product = linear.weight @ product
        return product


def homogeneity_degree(model: nn.Module) -> int:
    """L, the degree of positive homogeneity of ``model`` in its parameters.

    Defined for bias-free nets whose activations are positively 1-homogeneous (ReLU or
    identity): f(c theta) = c^L f(theta) with L the number of linear layers (002, Sec. 2).
    Raises ValueError for a model with a bias or a non-homogeneous activation.
    """
    linears = getattr(model, "linears", None)
    if linears is None:
        raise ValueError(f"{type(model).__name__} exposes no .linears")
    if getattr(model, "activation", None) not in _HOMOGENEOUS:
        raise ValueError(f"activation {getattr(model, 'activation', None)!r} is not homogeneous")
    if any(linear.bias is not None for linear in linears):
        raise ValueError(f"{type(model).__name__} has biases, so it is not homogeneous")
    return len(linears)


def gates(model: MLP | TwoLayerReLU, x: Tensor) -> list[Tensor]:
    """ReLU gates 1[h_l(x) > 0] per hidden layer, each (N, width_l), as booleans.

    The activation pattern of Cheng et al. (000, Sec. 3): inside the region where the gates
    are constant the ReLU net is affine in x. Computed without a graph.
    """
    if getattr(model, "activation", None) != "relu":
        raise ValueError(f"gates need a ReLU model, got activation {model.activation!r}")
    masks = []
    with torch.no_grad():
        h = x.flatten(1)
        for linear in model.linears[:-1]:
            pre = linear(h)
            masks.append(pre > 0)
            h = torch.relu(pre)
    return masks


class FrozenGateReLU(nn.Module):
    """A ReLU net with its gates frozen at a reference input: the linearised model.

    ``f_ref(x) = W_L^T (m_{L-1} * (... m_1 * (W_1^T x + b_1) ...)) + b_L`` with
    ``m_l = 1[h_l(x_ref) > 0]``: affine in x, equal to the ReLU net at ``x_ref`` and wherever
    no gate flips (Cheng et al. 000, the frozen-activation model of Sec. 3).

    The layers are shared with ``model`` (no copy), so parameter gradients flow into it.
    ``x_ref: (N, D)`` gives one mask per sample; row i of an input ``x: (N, D)`` uses sample
    i's mask. A single reference (N = 1) applies to every row.
    """

    def __init__(self, model: MLP | TwoLayerReLU, x_ref: Tensor) -> None:
        super().__init__()
        masks = gates(model, x_ref)
        for layer, mask in enumerate(masks):
            self.register_buffer(f"mask_{layer}", mask)  # buffers follow .to(device)
        self.n_masks = len(masks)
        self.linears = list(model.linears)
        self._model = model  # registered, so .double() and .parameters() reach the layers

    @property
    def masks(self) -> list[Tensor]:
        """The frozen gates m_l = 1[h_l(x_ref) > 0], one (N_ref, width_l) bool tensor per layer."""
        return [getattr(self, f"mask_{layer}") for layer in range(self.n_masks)]

    def forward(self, x: Tensor) -> Tensor:
        """Logits (N, C) of the frozen-gate model at x: (N, *input_shape)."""
        masks = self.masks
        n_ref = masks[0].shape[0] if masks else 1
        if n_ref not in (1, x.shape[0]):
            raise ValueError(f"x has {x.shape[0]} rows but the gates were frozen at {n_ref}")
        h = x.flatten(1)
        for linear, mask in zip(self.linears[:-1], masks, strict=True):
            h = linear(h) * mask.to(h.dtype)
        return self.linears[-1](h)


def frozen_gate(model: MLP | TwoLayerReLU, x_ref: Tensor) -> FrozenGateReLU:
    """The frozen-gate (linearised) version of ``model`` at ``x_ref``; see ``FrozenGateReLU``."""
    return FrozenGateReLU(model, x_ref)


class SmallCNN(nn.Module):
    """conv3x3-relu-conv3x3(stride 2)-relu-linear, for ``side`` x ``side`` images (8x8 digits).

    Inputs ``(N, in_channels, side, side)``, or flattened ``(N, in_channels * side**2)``
    (reshaped). ``channels`` are the two conv widths; ``generator`` as in the module docstring.
    """

    def __init__(
        self,
        in_channels: int = 1,
        n_out: int = 10,
        side: int = 8,
        *,
        channels: tuple[int, int] = (4, 8),
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        _check_dims(in_channels=in_channels, n_out=n_out, side=side, c1=channels[0],
                    c2=channels[1])
        self.in_channels, self.side = in_channels, side
        self.conv1 = nn.Conv2d(in_channels, channels[0], 3, padding=1)
        self.conv2 = nn.Conv2d(channels[0], channels[1], 3, stride=2, padding=1)
        self.fc = nn.Linear(channels[1] * ((side + 1) // 2) ** 2, n_out)
        if generator is not None:
            reinit_(self, generator)

    def forward(self, x: Tensor) -> Tensor:
        """Logits (N, n_out)."""
        if x.dim() == 2:
            x = x.view(-1, self.in_channels, self.side, self.side)
        h = torch.relu(self.conv2(torch.relu(self.conv1(x))))
        return self.fc(h.flatten(1))


class SmallResCNN(nn.Module):
    """conv3x3-relu, a residual block ``a + conv3x3(a)`` then relu, conv3x3(stride 2)-relu,
    linear: the smallest ReLU CNN with a skip connection (000's "ResCNN" column, shrunk).

    No normalisation layer, so with frozen gates the logits stay affine in the input (000
    Assumption 1). Inputs ``(N, in_channels, side, side)`` or flattened; ``channels`` are the
    widths of the first conv (and the block) and of the strided conv.
    """

    def __init__(
        self,
        in_channels: int = 1,
        n_out: int = 10,
        side: int = 8,
        *,
        channels: tuple[int, int] = (4, 8),
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        _check_dims(in_channels=in_channels, n_out=n_out, side=side, c1=channels[0],
                    c2=channels[1])
        self.in_channels, self.side = in_channels, side
        self.conv1 = nn.Conv2d(in_channels, channels[0], 3, padding=1)
        self.block = nn.Conv2d(channels[0], channels[0], 3, padding=1)
        self.conv2 = nn.Conv2d(channels[0], channels[1], 3, stride=2, padding=1)
        self.fc = nn.Linear(channels[1] * ((side + 1) // 2) ** 2, n_out)
        if generator is not None:
            reinit_(self, generator)

    def forward(self, x: Tensor) -> Tensor:
        """Logits (N, n_out)."""
        if x.dim() == 2:
            x = x.view(-1, self.in_channels, self.side, self.side)
        a = torch.relu(self.conv1(x))
        a = torch.relu(a + self.block(a))
        return self.fc(torch.relu(self.conv2(a)).flatten(1))


class PreActBlock(nn.Module):
    """Pre-activation residual block (He et al. 2016): BN-ReLU-conv3x3, BN-ReLU-conv3x3, + skip."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.bn1, self.bn2 = nn.BatchNorm2d(c_in), nn.BatchNorm2d(c_out)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.shortcut = (nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False)
                         if stride != 1 or c_in != c_out else None)

    def forward(self, x: Tensor) -> Tensor:
        out = torch.relu(self.bn1(x))
        skip = self.shortcut(out) if self.shortcut is not None else x
        out = self.conv1(out)
        return self.conv2(torch.relu(self.bn2(out))) + skip


class PreActResNet18(nn.Module):
    """PreAct-ResNet18 for 32 x 32 inputs, the standard model of fast adversarial training
    (Wong et al. 2020) and of the thesis's CIFAR-10 experiments. ``width`` is the first stage's
    channel count (64 in the papers; smaller for tests); stages double it three times.
    Inputs ``(N, in_channels, 32, 32)``; logits ``(N, n_out)``.
    """

    def __init__(self, in_channels: int = 3, n_out: int = 10, *, width: int = 64,
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        _check_dims(in_channels=in_channels, n_out=n_out, width=width)
        self.conv1 = nn.Conv2d(in_channels, width, 3, padding=1, bias=False)
        blocks, c = [], width
        for i, c_out in enumerate((width, 2 * width, 4 * width, 8 * width)):
            for j in range(2):
                blocks.append(PreActBlock(c, c_out, 2 if (i > 0 and j == 0) else 1))
                c = c_out
        self.blocks = nn.Sequential(*blocks)
        self.bn = nn.BatchNorm2d(c)
        self.fc = nn.Linear(c, n_out)
        if generator is not None:
            reinit_(self, generator)

    def forward(self, x: Tensor) -> Tensor:
        """Logits (N, n_out)."""
        h = torch.relu(self.bn(self.blocks(self.conv1(x))))
        return self.fc(torch.nn.functional.adaptive_avg_pool2d(h, 1).flatten(1))
