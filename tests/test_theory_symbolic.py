"""Symbolic derivations: identities reduce to zero, the Dirichlet KL agrees three ways, LaTeX is complete."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from weakstrong.theory import check, symbolic
from weakstrong.theory.dirichlet import dirichlet_kl_to_uniform


@pytest.mark.parametrize("verify", [symbolic.verify_pythagorean, symbolic.verify_nonrealizable_identity,
                                    symbolic.verify_ambiguity_decomposition])
def test_identities_have_zero_residual(verify):
    result = verify()
    assert result.holds and result.residual == "0"


def test_a_false_identity_leaves_a_residual():
    # The same machinery on a wrong statement (no misfit subtracted) must not reduce to zero.
    a, w, adj, det = symbolic._weighted_projection(3, 1)
    f_w = sp.Matrix(sp.symbols("v0:3"))
    f_star = a * sp.Matrix([sp.Symbol("c0")])
    f_sw = a * adj * a.T * w * f_w
    ip = symbolic._inner(w)
    residual = sp.expand(ip(f_sw - det * f_star, f_sw - det * f_star) - det**2 * ip(f_w - f_star, f_w - f_star))
    assert residual != 0


@pytest.mark.parametrize("alpha", [[2.0, 3.0], [0.8, 1.7], [1.0, 1.0], [5.0, 0.6]])
def test_dirichlet_kl_derived_closed_form_and_integral_agree_k2(alpha):
    (row,) = symbolic.verify_dirichlet_kl([alpha])
    assert row.derived == pytest.approx(row.closed_form, rel=1e-12, abs=1e-14)
    assert row.integrated == pytest.approx(row.closed_form, rel=1e-8, abs=1e-10)


@pytest.mark.slow
def test_dirichlet_kl_derived_closed_form_and_integral_agree_k3():
    (row,) = symbolic.verify_dirichlet_kl([[1.5, 2.0, 3.0]])
    assert row.derived == pytest.approx(row.closed_form, rel=1e-12)
    assert row.integrated == pytest.approx(row.closed_form, rel=1e-6)


def test_dirichlet_kl_derivation_for_larger_k_matches_the_code():
    rng = np.random.default_rng(0)
    alpha = rng.uniform(0.3, 5.0, size=5)
    expr, symbols = symbolic.derive_dirichlet_kl(5)
    value = float(sp.N(expr.subs(dict(zip(symbols, alpha.tolist()))), 30))
    assert value == pytest.approx(float(dirichlet_kl_to_uniform(alpha)), rel=1e-12)


def test_statement_latex_covers_every_checked_statement():
    latex = symbolic.statement_latex()
    names = {s.name.split("/")[0] for s in check.STATEMENTS}
    assert names <= set(latex), f"missing LaTeX for {sorted(names - set(latex))}"
    for name, text in latex.items():
        assert text.strip(), name
        assert text.count("{") == text.count("}"), name
        assert text.count(r"\left") == text.count(r"\right"), name
    assert latex["theorem1"] == r"d\left(f_{sw}, f^{*}\right) \leq d\left(f_{w}, f^{*}\right) - d\left(f_{sw}, f_{w}\right)"
