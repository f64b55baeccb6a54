"""Two estimates of a ReLU network's l2 Lipschitz constant, one from above and one from below.

Thesis 003 §4.3.3 (Theorem 4.6, Table 4.5, Fig. 4.22) relates the difficulty of the training
instances to the Lipschitz constant a model needs to fit them adversarially. Theorem 4.6 is a
*lower* bound on that constant; Table 4.5 and Fig. 4.22 report *upper*-bound estimates of trained
networks (Scaman & Virmaux's method). The exact constant of a ReLU network is NP-hard to compute,
so the book brackets it:

* :func:`spectral_product`: ``prod_l ||W_l||_2`` over the layers of an MLP. The activations are
  1-Lipschitz, so this bounds ``||f(x) - f(x')||_2 / ||x - x'||_2`` from above everywhere (the
  naive bound that Scaman & Virmaux's SeqLip tightens).
* :func:`local_jacobian_norm`: ``||J_f(x)||_2`` (the spectral norm of the logits' input
  Jacobian) at given points. The constant is at least the largest of these (the function is
  locally linear around almost every x), so ``max_x ||J_f(x)||_2`` bounds it from below on the
  data region.

Both are exact linear algebra (no power-iteration tolerance); the layers are small.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from advproof.curvature import logit_jacobian

__all__ = ["spectral_product", "local_jacobian_norm"]


def _linears(model: nn.Module) -> list[nn.Linear]:
    layers = getattr(model, "linears", None)
    if layers is None or not all(isinstance(m, nn.Linear) for m in layers):
        raise TypeError(f"spectral_product needs a model with a .linears list of nn.Linear "
                        f"layers (advproof.models.MLP), got {type(model).__name__}")
    return list(layers)


@torch.no_grad()
def spectral_product(model: nn.Module) -> float:
    """``prod_l ||W_l||_2``: an upper bound on the l2 Lipschitz constant of the logits of an
    :class:`advproof.models.MLP` (each of its activations, ReLU, tanh, softplus and the identity,
    is 1-Lipschitz; biases do not matter)."""
    out = 1.0
    for layer in _linears(model):
        out *= float(torch.linalg.matrix_norm(layer.weight.double(), ord=2))
    return out


def local_jacobian_norm(model: nn.Module, X: Tensor) -> Tensor:
    """``||J_f(x)||_2`` for every row x of ``X`` (shape (N,)): the spectral norm of the logits'
    input Jacobian. Its maximum bounds the Lipschitz constant from below."""
    if X.ndim < 2 or X.shape[0] == 0:
        raise ValueError(f"X must be a non-empty batch (N, ...), got shape {tuple(X.shape)}")
    was_training = model.training
    model.eval()
    try:
        J = logit_jacobian(model, X).flatten(2).double()
    finally:
        model.train(was_training)
    return torch.linalg.matrix_norm(J, ord=2)
