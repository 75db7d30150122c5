"""The linear-operator base every measurement model implements (single-coil, SENSE, downsampling).

``A.forward(x)``, ``A.adjoint(y)`` (also ``A.H(y)``), ``A.normal(x) = A^H A x``, ``A.cg_solve`` for the
regularised normal equations ``(A^H A + μ I) x = A^H y + μ x_ref``, and ``A.consistency`` — the
non-expansive data-consistency map between diffusion steps. Solvers use only this interface (and the
descriptive attributes ``gram_norm`` and ``num_coils``); they never test an operator's class.

Images are complex ``(batch, H, W)``; measurements are whatever the operator produces.
"""

from __future__ import annotations

import torch

CONSISTENCY_MODES = ("replace", "soft", "prox", "krylov")


def _dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a.conj() * b).real.flatten(1).sum(1)


def _b(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return v.reshape(-1, *([1] * (like.dim() - 1)))


def check_consistency(mode: str, weight) -> None:
    if mode not in CONSISTENCY_MODES:
        raise ValueError(f"unknown consistency mode {mode!r}: {', '.join(CONSISTENCY_MODES)}")
    if torch.is_tensor(weight):
        weight = float(weight.min())
    if mode == "krylov":
        if weight < 0:
            raise ValueError(f"krylov consistency needs gamma >= 0, got {weight}")
    elif mode == "prox":
        if not weight > 0:
            raise ValueError(f"prox consistency needs mu > 0, got {weight}")
    elif not 0.0 < weight <= 1.0:
        raise ValueError(f"consistency weight must be in (0, 1], got {weight}")


class LinearOp:
    """Batched linear measurement operator. Subclasses implement ``forward``, ``adjoint``,
    ``_replace`` (the exact / soft replacement map), ``select`` and ``to``."""

    #: ``‖A^H A‖`` (largest eigenvalue of the normal operator) or a tight upper bound: 1 for the MRI
    #: operators (orthonormal FFT, a mask, coil maps with unit root-sum-of-squares), 1/factor² for
    #: ``Downsample``. Solvers that weigh a data term against a prior divide by it.
    gram_norm: float = 1.0
    #: receive channels of the measurement (1 for single-coil MRI and image-domain operators)
    num_coils: int = 1
    #: complex noise σ of the measurement per batch item ``(batch,)`` (RMS over coils), in the units of
    #: ``y``; None when unknown. Set from the data (``physics.noise``) by the engine or by the user;
    #: solvers derive their data-fidelity weights from it (``recon.weights``).
    noise_sigma: torch.Tensor | None = None

    def with_noise(self, sigma) -> "LinearOp":
        """This operator with ``noise_sigma`` set (a float or one value per batch item)."""
        self.noise_sigma = None if sigma is None else torch.as_tensor(sigma, dtype=torch.float32).reshape(-1)
        return self

    def estimate_noise(self, y: torch.Tensor) -> torch.Tensor | None:
        """Per-item noise σ of ``y`` estimated from the data (``physics.noise``); None when the
        operator has no model for it."""
        return None

    def noise_level(self, y: torch.Tensor) -> torch.Tensor | None:
        """Per-item σ of ``y`` (``(batch,)``, on ``y``'s device): ``noise_sigma`` if set, else
        ``estimate_noise(y)``; None without either."""
        s = self.noise_sigma
        if s is None:
            s = self.estimate_noise(y)
        if s is None:
            return None
        s = torch.as_tensor(s, dtype=torch.float32, device=y.device).reshape(-1)
        return s.expand(y.shape[0]) if s.numel() == 1 else s

    def _carry_noise(self, new: "LinearOp", idx=None) -> "LinearOp":
        s = self.noise_sigma
        if s is not None:
            new.noise_sigma = s[idx] if (idx is not None and s.numel() > 1) else s
        return new

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - interface
        raise NotImplementedError

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:  # pragma: no cover - interface
        raise NotImplementedError

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward(x)

    @property
    def H(self):
        """The adjoint as a callable: ``A.H(y) == A.adjoint(y)``."""
        return self.adjoint

    def normal(self, x: torch.Tensor) -> torch.Tensor:
        """``A^H A x``."""
        return self.adjoint(self.forward(x))

    def init(self, y: torch.Tensor) -> torch.Tensor:
        """A first estimate from the measurement (``A^H y`` unless the operator knows better)."""
        return self.adjoint(y)

    @torch.no_grad()
    def cg_solve(self, y: torch.Tensor, x_ref: torch.Tensor, mu: float, iters: int = 20,
                 tol: float = 1e-5) -> torch.Tensor:
        """``argmin_x ‖A x − y‖² + μ ‖x − x_ref‖²`` by conjugate gradients on
        ``(A^H A + μ I) x = A^H y + μ x_ref``, started at ``x_ref``; each batch item has its own CG
        scalars. For SENSE this uses the coil redundancy (parallel imaging)."""
        if torch.is_tensor(mu):  # one weight per batch item
            mu = _b(mu.to(device=x_ref.device, dtype=torch.float32), x_ref)
        normal = lambda v: self.normal(v) + mu * v  # noqa: E731
        x = x_ref.clone()
        r = self.adjoint(y) + mu * x_ref - normal(x)
        p = r.clone()
        rs = _dot(r, r)
        rs0 = rs.clamp_min(1e-30)
        active = rs / rs0 >= tol ** 2  # per item: a converged item stops, whatever the rest of its batch does
        for _ in range(iters):
            if not bool(active.any()):
                break
            ap = normal(p)
            pap = _dot(p, ap)
            # breakdown guard: on a singular A^H A (mu = 0) rounding leaves p in the null space, where
            # p^H A^H A p ≈ 0 would give an exploding step; such items stop moving
            alpha = torch.where(active & (pap > 1e-6 * _dot(p, p)), rs / pap.clamp_min(1e-30), torch.zeros_like(rs))
            x = x + _b(alpha, x) * p
            r = r - _b(alpha, r) * ap
            rs_new = _dot(r, r)
            active = active & (rs_new / rs0 >= tol ** 2)
            p = r + _b(torch.where(active, rs_new / rs.clamp_min(1e-30), torch.zeros_like(rs)), p) * p
            rs = torch.where(active, rs_new, rs)
        return x

    @torch.no_grad()
    def cg_solve_shifts(self, y: torch.Tensor, x_ref: torch.Tensor, mus, iters: int = 20,
                        tol: float = 1e-5) -> torch.Tensor:
        """``cg_solve`` for several weights at the cost of one: ``(len(mus), batch, …)`` with entry j the
        ``iters``-step CG iterate of ``argmin ‖A x − y‖² + μ_j ‖x − x_ref‖²`` started at ``x_ref``.

        Started at ``x_ref``, every system has the same initial residual ``A^H y − A^H A x_ref`` and the
        shifted Krylov spaces coincide, so one Krylov sequence serves all μ (multi-shift CG, Jegerlehner
        1996; the smallest μ is the seed system). Each weight stops when its own residual falls below
        ``tol``, as ``cg_solve`` does."""
        mus = [float(m) for m in mus]
        base = min(mus)
        sh = torch.tensor([m - base for m in mus], dtype=torch.float32, device=x_ref.device)[:, None]  # (S, 1)
        n_s, b = len(mus), x_ref.shape[0]
        normal = lambda v: self.normal(v) + base * v  # noqa: E731
        r = self.adjoint(y) - self.normal(x_ref)
        p = r.clone()
        ps = r[None].repeat(n_s, *([1] * r.dim()))
        d = torch.zeros_like(ps)  # x_j − x_ref
        rs = _dot(r, r)
        rs0 = rs.clamp_min(1e-30)
        one = torch.ones(n_s, b, device=x_ref.device)
        zeta, zeta_prev = one.clone(), one.clone()
        alpha_prev, beta_prev = torch.ones(b, device=x_ref.device), torch.zeros(b, device=x_ref.device)
        active = (rs / rs0 >= tol ** 2)[None] & (one > 0)  # (S, batch)
        seed_active = rs / rs0 >= tol ** 2
        for _ in range(iters):
            if not bool(active.any()):
                break
            ap = normal(p)
            pap = _dot(p, ap)
            ok = seed_active & (pap > 1e-6 * _dot(p, p))
            alpha = torch.where(ok, rs / pap.clamp_min(1e-30), torch.zeros_like(rs))
            den = alpha * beta_prev * (zeta_prev - zeta) + zeta_prev * alpha_prev * (1 + sh * alpha)
            zeta_new = torch.where(den.abs() > 1e-30, zeta * zeta_prev * alpha_prev / den.clamp_min(1e-30), zeta)
            alpha_s = torch.where(active & ok, alpha * zeta_new / zeta.clamp_min(1e-30), torch.zeros_like(zeta))
            shape = alpha_s.shape + (1,) * (d.dim() - 2)
            d = d + alpha_s.reshape(shape) * ps
            r = r - _b(alpha, r) * ap
            rs_new = _dot(r, r)
            beta = torch.where(ok, rs_new / rs.clamp_min(1e-30), torch.zeros_like(rs))
            beta_s = beta * (zeta_new / zeta.clamp_min(1e-30)) ** 2
            p = r + _b(beta, p) * p
            ps = zeta_new.reshape(shape) * r[None] + beta_s.reshape(shape) * ps
            zeta_prev, zeta = zeta, zeta_new
            alpha_prev, beta_prev = torch.where(ok, alpha, alpha_prev), beta
            seed_active = ok & (rs_new / rs0 >= tol ** 2)
            active = active & ok & (zeta.abs() ** 2 * rs_new / rs0 >= tol ** 2)
            rs = torch.where(ok, rs_new, rs)
        return x_ref[None] + d

    def consistency(self, x: torch.Tensor, y: torch.Tensor, mode: str = "replace", weight: float = 1.0,
                    iters: int = 15) -> torch.Tensor:
        """Non-expansive data-consistency map ``x ↦ L x + b`` with ``‖L‖ ≤ 1``:

        * ``replace``: measured samples replaced by the measurement (a projection for single-coil
          MRI and downsampling; a product of contractions for SENSE);
        * ``soft`` with ``weight`` w ∈ (0, 1]: ``x − w A⁺(A x − y)`` (w = 1 is ``replace``);
        * ``prox`` with ``weight`` μ > 0: ``argmin_z ‖A z − y‖² + μ ‖z − x‖²`` by CG (``cg_solve``);
          ``weight`` may be a tensor, one μ per batch item;
        * ``krylov`` with ``weight`` γ ≥ 0: ``iters`` CG steps on ``(A^H A + γ I) z = A^H y + γ x``
          started at x (DDS, Chung et al. 2024): the Krylov subspace around x, stopped early.
        """
        check_consistency(mode, weight)
        if mode == "prox":
            return self.prox(x, y, weight, iters)
        if mode == "krylov":
            return self.cg_solve(y, x, weight, iters)  # stops early once converged
        return self._replace(x, y, 1.0 if mode == "replace" else weight)

    def prox(self, x: torch.Tensor, y: torch.Tensor, mu, iters: int = 15) -> torch.Tensor:
        """``argmin_z ‖A z − y‖² + μ ‖z − x‖²`` (``mu`` a number or one per batch item): CG here;
        operators with a closed form override it."""
        return self.cg_solve(y, x, mu, iters)

    def _replace(self, x: torch.Tensor, y: torch.Tensor, w: float) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def sense_parts(self, i: int):
        """``(maps (coils, H, W), mask (H, W))`` numpy arrays of batch item ``i`` for SENSE-type
        solvers (compressed sensing through sigpy). Operators that are not Cartesian MRI raise."""
        raise NotImplementedError(f"{type(self).__name__} is not a Cartesian MRI operator (no coil maps / mask)")

    def image_shape(self, y: torch.Tensor) -> tuple[int, ...]:
        return tuple(self.adjoint(y).shape)

    def select(self, idx) -> "LinearOp":  # pragma: no cover - interface
        """The operator restricted to the batch items ``idx``."""
        raise NotImplementedError

    def to(self, device) -> "LinearOp":  # pragma: no cover - interface
        raise NotImplementedError


Operator = LinearOp  # the name used before the base was introduced
