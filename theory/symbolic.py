"""Symbolic derivations (sympy) of the identities behind ``weakstrong.theory``, and their LaTeX.

Each ``verify_*`` function derives an identity for generic symbols and returns a :class:`SymbolicCheck`
whose ``residual`` is the difference of the two sides after expansion: the identity is proved (for the
stated dimensions, with every entry a free symbol) when the residual is exactly 0.

- :func:`verify_pythagorean`: the weighted orthogonal projection onto the column span of a generic A
  satisfies d(f_sw, f*) = d(f_w, f*) - d(f_sw, f_w) whenever f* = A c (Charikar et al. 2024, Thm. 1, with
  equality for subspaces).
- :func:`verify_nonrealizable_identity`: gain = misfit - 2 <r*, r_w> for a generic f*.
- :func:`verify_ambiguity_decomposition`: the Krogh-Vedelsby decomposition for k members.
- :func:`verify_gain_decomposition`: gain = misfit + cross term, pointwise for any student (squared loss and
  binary KL), the identity behind :mod:`weakstrong.theory.gain.predictor`.
- :func:`derive_dirichlet_kl` / :func:`verify_dirichlet_kl`: KL(Dir(alpha) || Dir(1)) from the
  exponential-family identity E log x_k = d/d alpha_k log B(alpha), compared with
  ``weakstrong.theory.dirichlet`` and with numeric integration for K = 2, 3.
- :func:`statement_latex`: {statement name: LaTeX} for the paper.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sympy as sp
from sympy.printing.latex import LatexPrinter

from .dirichlet import dirichlet_kl_to_uniform


@dataclass(frozen=True)
class SymbolicCheck:
    """An identity checked symbolically: ``residual`` = lhs - rhs after expansion, ``holds`` iff it is 0."""

    name: str
    statement: str
    residual: str
    holds: bool


def _weighted_projection(m: int, d: int):
    """Generic weighted least squares: A (m x d), weights w, the normal matrix and its adjugate/determinant.

    The projection is P = A G^{-1} A^T W with G = A^T W A; working with adj(G) = det(G) G^{-1} keeps every
    expression polynomial, so ``expand`` decides the identity exactly.
    """
    a = sp.Matrix(m, d, lambda i, j: sp.Symbol(f"a_{i}{j}"))
    w = sp.diag(*sp.symbols(f"w0:{m}", positive=True))
    g = a.T * w * a
    return a, w, g.adjugate(), g.det()


def _inner(w: sp.Matrix):
    return lambda u, v: (u.T * w * v)[0]


def verify_pythagorean(m: int = 3, d: int = 2) -> SymbolicCheck:
    """Realizable subspace: ||P f_w - f*||_W^2 = ||f_w - f*||_W^2 - ||P f_w - f_w||_W^2 for f* = A c.

    Every term is multiplied by det(G)^2 so that P f_w = A adj(G) A^T W f_w / det(G) stays polynomial.
    """
    a, w, adj, det = _weighted_projection(m, d)
    ip = _inner(w)
    f_w = sp.Matrix(sp.symbols(f"v0:{m}"))
    f_star = a * sp.Matrix(sp.symbols(f"c0:{d}"))
    f_sw = a * adj * a.T * w * f_w  # det(G) * P f_w
    lhs = ip(f_sw - det * f_star, f_sw - det * f_star)
    rhs = det**2 * ip(f_w - f_star, f_w - f_star) - ip(f_sw - det * f_w, f_sw - det * f_w)
    residual = sp.expand(lhs - rhs)
    return SymbolicCheck("subspace_equality", "d(f_sw,f*) = d(f_w,f*) - d(f_sw,f_w)", str(residual), residual == 0)


def verify_nonrealizable_identity(m: int = 3, d: int = 1) -> SymbolicCheck:
    """gain = misfit - 2 <r*, r_w> for generic f*, f_w, with r* = f* - P f*, r_w = f_w - P f_w."""
    a, w, adj, det = _weighted_projection(m, d)
    ip = _inner(w)
    f_w = sp.Matrix(sp.symbols(f"v0:{m}"))
    f_star = sp.Matrix(sp.symbols(f"y0:{m}"))
    proj = a * adj * a.T * w  # det(G) * P
    f_sw = proj * f_w
    r_star, r_w = det * f_star - proj * f_star, det * f_w - f_sw
    gain = det**2 * ip(f_w - f_star, f_w - f_star) - ip(f_sw - det * f_star, f_sw - det * f_star)
    misfit = ip(f_sw - det * f_w, f_sw - det * f_w)
    residual = sp.expand(gain - (misfit - 2 * ip(r_star, r_w)))
    return SymbolicCheck("nonrealizable_identity", "gain = misfit - 2<r*, r_w>", str(residual), residual == 0)


def verify_ambiguity_decomposition(k: int = 3) -> SymbolicCheck:
    """(f_bar - y)^2 = sum_j a_j (f_j - y)^2 - sum_j a_j (f_j - f_bar)^2 pointwise, with sum_j a_j = 1."""
    f = sp.symbols(f"f0:{k}")
    y = sp.Symbol("y")
    alpha = list(sp.symbols(f"alpha0:{k - 1}")) + [1 - sum(sp.symbols(f"alpha0:{k - 1}"))]
    f_bar = sum(aj * fj for aj, fj in zip(alpha, f))
    lhs = (f_bar - y) ** 2
    rhs = sum(a * (fj - y) ** 2 for a, fj in zip(alpha, f)) - sum(a * (fj - f_bar) ** 2 for a, fj in zip(alpha, f))
    residual = sp.expand(lhs - rhs)
    return SymbolicCheck(
        "ambiguity_decomposition", "d(f_bar,f*) = sum_j a_j d(f_j,f*) - sum_j a_j d(f_j,f_bar)", str(residual),
        residual == 0,
    )


def verify_gain_decomposition(loss: str = "sq", m: int = 2) -> SymbolicCheck:
    """The three-point identity behind the gain predictor, pointwise and for any student:
    D(y, f_w) - D(y, f_sw) = D(f_sw, f_w) + <grad phi(f_sw) - grad phi(f_w), y - f_sw>.

    ``loss="sq"``: D(u, v) = ||u - v||^2 on R^m. ``loss="kl"``: D = KL on the binary simplex, written with the
    probability of class 1 (p_w, p_sw, and a soft label y in [0, 1]); the cross term is
    (y - p_sw)(logit p_sw - logit p_w). See :mod:`weakstrong.theory.gain.predictor`.
    """
    if loss == "sq":
        y, f_w, f_sw = (sp.Matrix(sp.symbols(f"{name}0:{m}")) for name in ("y", "w", "s"))
        sq = lambda u: (u.T * u)[0]  # noqa: E731
        lhs = sq(f_w - y) - sq(f_sw - y)
        rhs = sq(f_sw - f_w) + (2 * (f_sw - f_w)).dot(y - f_sw)
        residual = sp.expand(lhs - rhs)
        statement = "||f_w-y||^2 - ||f_sw-y||^2 = ||f_sw-f_w||^2 + 2<f_sw-f_w, y-f_sw>"
    elif loss == "kl":
        y, p_w, p_s = sp.symbols("y p_w p_s", positive=True)

        def kl(a, b):
            return a * sp.log(a / b) + (1 - a) * sp.log((1 - a) / (1 - b))

        logit = lambda p: sp.log(p) - sp.log(1 - p)  # noqa: E731
        lhs = kl(y, p_w) - kl(y, p_s)
        rhs = kl(p_s, p_w) + (y - p_s) * (logit(p_s) - logit(p_w))
        # Logarithms of the (positive) probabilities and of their complements are independent symbols, so
        # the identity is checked as an identity in them (expand_log with force splits log(a/b)).
        residual = sp.expand(sp.expand_log(lhs - rhs, force=True))
        statement = "KL(y||p_w) - KL(y||p_sw) = KL(p_sw||p_w) + (y-p_sw)(logit p_sw - logit p_w)"
    else:
        raise ValueError(f"loss must be 'sq' or 'kl', got {loss!r}")
    return SymbolicCheck(f"gain_decomposition_{loss}", statement, str(residual), residual == 0)


def derive_dirichlet_kl(k: int) -> tuple[sp.Expr, tuple[sp.Symbol, ...]]:
    """KL(Dir(alpha) || Dir(1)) for K = k, derived from the Dirichlet log-partition function.

    log p_alpha(x) = sum_k (alpha_k - 1) log x_k - log B(alpha), log B(alpha) = sum_k log Gamma(alpha_k)
    - log Gamma(sum_k alpha_k); E log x_k = d/d alpha_k log B(alpha) (exponential family); Dir(1) has density
    Gamma(K). Hence KL = -log B(alpha) - log Gamma(K) + sum_k (alpha_k - 1) d/d alpha_k log B(alpha).
    """
    alpha = sp.symbols(f"alpha0:{k}", positive=True)
    log_b = sum(sp.loggamma(a) for a in alpha) - sp.loggamma(sum(alpha))
    expected_log = [sp.diff(log_b, a) for a in alpha]
    kl = -log_b - sp.loggamma(k) + sum((a - 1) * e for a, e in zip(alpha, expected_log))
    return sp.simplify(kl), alpha


def _numeric_dirichlet_kl(alpha: np.ndarray) -> float:
    """KL(Dir(alpha) || Dir(1)) by numeric integration over the simplex (K = 2 or 3)."""
    from scipy import integrate, special

    alpha = np.asarray(alpha, dtype=float)
    log_norm = special.gammaln(alpha.sum()) - special.gammaln(alpha).sum()
    log_uniform = special.gammaln(alpha.size)  # Dir(1) has constant density Gamma(K) on the simplex

    def integrand(*x: float) -> float:
        xs = np.array([*x, 1.0 - sum(x)])
        if np.any(xs <= 0):
            return 0.0
        log_p = log_norm + np.sum((alpha - 1.0) * np.log(xs))
        return float(np.exp(log_p) * (log_p - log_uniform))

    if alpha.size == 2:
        return integrate.quad(integrand, 0.0, 1.0, limit=200, epsabs=1e-12, epsrel=1e-10)[0]
    if alpha.size == 3:
        return integrate.dblquad(
            lambda x2, x1: integrand(x1, x2), 0.0, 1.0, 0.0, lambda x1: 1.0 - x1, epsabs=1e-10, epsrel=1e-8
        )[0]
    raise ValueError(f"alpha must have 2 or 3 entries for numeric integration, got {alpha.size}")


@dataclass(frozen=True)
class DirichletComparison:
    """The derived KL(Dir(alpha) || Dir(1)) against the closed form in code and numeric integration."""

    alpha: tuple[float, ...]
    derived: float
    closed_form: float
    integrated: float | None


def verify_dirichlet_kl(alphas: list[list[float]]) -> list[DirichletComparison]:
    """Evaluate :func:`derive_dirichlet_kl` against ``dirichlet_kl_to_uniform`` and (K <= 3) integration."""
    rows = []
    for alpha in alphas:
        alpha = np.asarray(alpha, dtype=float)
        expr, symbols = derive_dirichlet_kl(alpha.size)
        derived = float(sp.N(expr.subs(dict(zip(symbols, alpha.tolist()))), 30))
        integrated = _numeric_dirichlet_kl(alpha) if alpha.size <= 3 else None
        closed_form = float(dirichlet_kl_to_uniform(alpha))
        rows.append(DirichletComparison(tuple(alpha.tolist()), derived, closed_form, integrated))
    return rows


def finite_sample_expression() -> tuple[sp.Expr, dict[str, sp.Symbol]]:
    """The finite-sample bound's additive term as a sympy expression in n, B, R, M, delta, epsilon, misfit.

    The same constants as ``weakstrong.theory.finite_sample.finite_sample_terms`` (tests compare them).
    """
    n, b, r, m, delta, eps, misfit = sp.symbols(r"n B R M delta \varepsilon \mathrm{misfit}", positive=True)
    excess = 4 * b * r * (b * r + m) / sp.sqrt(n) + (b * r + m) ** 2 * sp.sqrt(2 * sp.log(2 / delta) / n)
    total = 2 * sp.sqrt(eps * misfit) + 2 * sp.sqrt(excess) * (m + 2 * b * r)
    names = {"n": n, "B": b, "R": r, "M": m, "delta": delta, "epsilon": eps, "misfit": misfit}
    return total, {**names, "Delta": excess}


class _Printer(LatexPrinter):
    """Prints log-Gamma and digamma in the paper's notation, and keeps the order terms are written in."""

    def __init__(self) -> None:
        super().__init__({"order": "none"})

    def _print_loggamma(self, expr, exp=None) -> str:
        return rf"\ln\Gamma\left({self._print(expr.args[0])}\right)"

    def _print_polygamma(self, expr, exp=None) -> str:
        if expr.args[0] == 0:
            return rf"\psi\left({self._print(expr.args[1])}\right)"
        return super()._print_polygamma(expr, exp)


def _tex(expr: sp.Basic) -> str:
    return _Printer().doprint(expr)


def _minus(expr: sp.Expr) -> sp.Expr:
    return sp.Mul(-1, expr, evaluate=False)


class _D(sp.Function):
    """d(f, g) printed as in the paper."""

    def _latex(self, printer) -> str:
        return rf"d\left({printer._print(self.args[0])}, {printer._print(self.args[1])}\right)"


def _sum(*terms: sp.Expr) -> sp.Expr:
    return sp.Add(*terms, evaluate=False)


def _le(lhs: sp.Expr, *rhs: sp.Expr) -> str:
    return _tex(sp.Le(lhs, _sum(*rhs) if len(rhs) > 1 else rhs[0]))


def _eq(lhs: sp.Expr, *rhs: sp.Expr) -> str:
    return _tex(sp.Eq(lhs, _sum(*rhs) if len(rhs) > 1 else rhs[0], evaluate=False))


def statement_latex() -> dict[str, str]:
    """{statement name: LaTeX} for every statement of ``weakstrong.theory``, for the paper build.

    Keys are the ``BoundCheck.name`` of each statement, plus the definitions they use (``epsilon``,
    ``residuals``, ``finite_sample_excess_risk``) and the Dirichlet KL closed form (``dirichlet_kl``, with its
    K = 2 instance derived by :func:`derive_dirichlet_kl` as ``dirichlet_kl_k2``).
    """
    f_sw, f_star, f_w, f_bar = sp.symbols(r"f_{sw} f^{*} f_{w} \bar{f}")
    f_hat, pi_star, f_j = sp.symbols(r"\hat{f}_{sw} \Pi{}f^{*} f_j")
    eps, alpha_j, j, k = sp.symbols(r"\varepsilon \alpha_j j k")
    r_star, r_w = sp.symbols(r"r^{*} r_{w}")
    cross = sp.Symbol(r"\langle r^{*}, r_{w} \rangle")  # one symbol (sp.symbols would split at the comma)
    gain, misfit = sp.symbols(r"\mathrm{gain} \mathrm{misfit}")
    chosen = sp.Symbol(r"f_{sw}^{(\hat{j})}")
    best_score = sp.Symbol(
        r"\min_j \left[d\left(f_w^{(j)}, f^{*}\right) - d\left(f_{sw}^{(j)}, f_w^{(j)}\right)\right]"
    )
    total, sym = finite_sample_expression()
    kl_term = r"\mathbb{E}\,\mathrm{KL}\left(%s \,\|\, %s\right)"
    out = {
        "theorem1": _le(_D(f_sw, f_star), _D(f_w, f_star), _minus(_D(f_sw, f_w))),
        "subspace_equality": _eq(_D(f_sw, f_star), _D(f_w, f_star), _minus(_D(f_sw, f_w))),
        "nonrealizable_identity": _eq(gain, misfit, _minus(2 * cross)),
        "nonrealizable_bound": _le(sp.Abs(_sum(gain, _minus(misfit))), 2 * sp.sqrt(eps * misfit)),
        "convex_nonrealizable_bound": _le(_D(f_sw, f_star), _D(f_w, f_star), _minus(_D(f_sw, f_w)),
                                          2 * sp.sqrt(eps * _D(f_sw, f_w))),
        "finite_sample_bound": _le(_D(f_hat, f_star), _D(f_w, f_star), _minus(_D(f_hat, f_w)),
                                   total.subs(sym["misfit"], _D(f_hat, f_w))),
        "finite_sample_excess_risk": r"\Delta = " + _tex(sym["Delta"]),
        "kl_theorem": (kl_term % ("g^{*}", "f_{sw}") + r" \leq " + kl_term % ("g^{*}", "f_{w}") + " - "
                       + kl_term % ("f_{sw}", "f_{w}")),
        "ambiguity_decomposition": _eq(_D(f_bar, f_star), sp.Sum(alpha_j * _D(f_j, f_star), (j, 1, k)),
                                       _minus(sp.Sum(alpha_j * _D(f_j, f_bar), (j, 1, k)))),
        "ensemble_theorem1": _le(_D(f_sw, f_star), _D(f_bar, f_star), _minus(_D(f_sw, f_bar))),
        "weak_model_selection": _le(_D(chosen, f_star), best_score),
        "epsilon": _eq(eps, _D(pi_star, f_star)),
        "residuals": _eq(r_star, f_star, _minus(pi_star)) + r",\quad " + _eq(r_w, f_w, _minus(f_sw)),
        "dirichlet_kl": (
            r"\mathrm{KL}\left(\mathrm{Dir}(\alpha) \,\|\, \mathrm{Dir}(\mathbf{1})\right) = \ln\Gamma(S)"
            r" - \ln\Gamma(K) - \sum_k \ln\Gamma(\alpha_k) + \sum_k (\alpha_k - 1)\left(\psi(\alpha_k)"
            r" - \psi(S)\right), \quad S = \sum_k \alpha_k"
        ),
    }
    kl, _ = derive_dirichlet_kl(2)
    out["dirichlet_kl_k2"] = (
        r"\mathrm{KL}\left(\mathrm{Dir}(\alpha_0, \alpha_1) \,\|\, \mathrm{Dir}(1, 1)\right) = " + _tex(kl)
    )
    return out
