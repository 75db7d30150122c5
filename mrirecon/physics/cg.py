"""Conjugate gradient for the regularised normal equations (A^H A + μ I) x = A^H y + μ x_ref.

The solution is argmin ‖A x − y‖² + μ ‖x − x_ref‖²: the data-consistency step of MoDL-style
methods, which for SENSE exploits the coil redundancy (parallel imaging) that the one-shot
replacement map cannot. Batched: each item has its own CG scalars.
"""

from __future__ import annotations

import torch


def _dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a.conj() * b).real.flatten(1).sum(1)


def _b(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return v.reshape(-1, *([1] * (like.dim() - 1)))


@torch.no_grad()
def cg_dc(physics, y: torch.Tensor, x_ref: torch.Tensor, mu: float, iters: int = 20, tol: float = 1e-6) -> torch.Tensor:
    """Solve (A^H A + μ I) x = A^H y + μ x_ref by CG, starting from x_ref. Complex ``(batch, H, W)``."""
    normal = lambda v: physics.adjoint(physics.forward(v)) + mu * v  # noqa: E731
    x = x_ref.clone()
    r = physics.adjoint(y) + mu * x_ref - normal(x)
    p = r.clone()
    rs = _dot(r, r)
    rs0 = rs.clamp_min(1e-30)
    for _ in range(iters):
        ap = normal(p)
        alpha = rs / _dot(p, ap).clamp_min(1e-30)
        x = x + _b(alpha, x) * p
        r = r - _b(alpha, r) * ap
        rs_new = _dot(r, r)
        if bool((rs_new / rs0 < tol ** 2).all()):
            break
        p = r + _b(rs_new / rs.clamp_min(1e-30), p) * p
        rs = rs_new
    return x
