"""kinkgrad.grad: the expression language, against hand-derived values and the CLI's numbers."""

import pytest

import kinkgrad as kg

BOUSTANY = "max_first(t, 2*t, 3*t, 4*t) - max_mean(t, 2*t, 3*t, 4*t)"


def test_boustany_assoc_is_minus_one_and_a_half():
    # f(t) = max_first(t x) - max_mean(t x), x = (1, 2, 3, 4), is identically 0; the associated
    # gradient at t = 0 is x.(1,0,0,0) - x.(1/4,...) = 1 - 10/4 = -1.5 (Boustany's paradox; also
    # `kinkgrad grad BOUSTANY --at t=0 --mode assoc --json` prints "gradient":{"t":-1.5}).
    r = kg.grad(BOUSTANY, t=0.0, mode="assoc")
    assert r.value == 0.0
    assert r.gradient == {"t": -1.5}
    assert r.certificate.kind == "representation-dependent"
    assert r.certificate.kinks == {"max": 2}


@pytest.mark.parametrize("mode", ["safe", "lex"])
def test_boustany_safe_and_lex_give_the_true_derivative_zero(mode):
    # f = 0 everywhere, so f'(0) = 0; the CLI prints gradient 0.0 and kind "generalized".
    r = kg.grad(BOUSTANY, t=0.0, mode=mode)
    assert r.gradient == {"t": 0.0}
    assert r.certificate.kind == "generalized"
    assert r.certificate.locked == 2
    if mode == "lex":
        assert r.ld_derivative == [0.0]


@pytest.mark.parametrize("z", [0.0, 0.5, 1.0])
def test_relu_minus_relu_of_minus_x_assoc_is_twice_relu_prime_at_zero(z):
    # f(x) = relu(x) - relu(-x) = x. Chain rule with relu'(0) = z: f'(0) = z - (-z) = 2z, a number
    # that depends on the representation (the presets all use z = 0, the CLI prints 0.0 for each).
    r = kg.grad("relu(x) - relu(-x)", x=0.0, mode="assoc", relu_at_zero=z)
    assert r.gradient == {"x": 2 * z}
    assert r.certificate.kind == "representation-dependent"
    assert r.certificate.kinks == {"relu": 2}


@pytest.mark.parametrize("convention", ["minnorm", "pytorch", "jax", "tensorflow"])
def test_relu_minus_relu_of_minus_x_safe_is_one_in_every_convention(convention):
    # f(x) = x, so f'(0) = 1 whatever relu'(0) is (the CLI prints d/dx 1 in safe mode).
    r = kg.grad("relu(x) - relu(-x)", x=0.0, convention=convention)
    assert r.gradient == {"x": 1.0}
    assert r.certificate.kind == "generalized"
    assert r.certificate.representation == convention
    assert str(r.certificate).startswith("generalized (safe, ")


def test_smooth_point_is_exact():
    # d/dx (x^2 y + 3 y) at (2, 5) = 2xy = 20, d/dy = x^2 + 3 = 7
    r = kg.grad("x^2 * y + 3*y", x=2.0, y=5.0)
    assert r.value == 35.0
    assert r.gradient == {"x": 20.0, "y": 7.0}
    assert r.certificate.kind == "exact"


def test_syntax_error_is_a_value_error_with_the_parsers_line():
    with pytest.raises(ValueError, match=r"^invalid expression: syntax error at column 5"):
        kg.grad("x + * 2", x=1.0)


def test_missing_and_extra_variables_are_value_errors():
    with pytest.raises(ValueError, match="unbound variable 'y'"):
        kg.grad("x + y", x=1.0)
    with pytest.raises(ValueError, match="unused variable 'z'"):
        kg.grad("x", x=1.0, z=2.0)


def test_bad_mode_and_representation_are_value_errors():
    with pytest.raises(ValueError, match="mode"):
        kg.grad("x", x=1.0, mode="fast")
    with pytest.raises(ValueError, match="not both"):
        kg.grad("x", x=1.0, convention="jax", representation="pytorch")


def test_non_finite_value_is_a_floating_point_error():
    # log(0) = -inf: an error naming the op, never a returned inf
    with pytest.raises(FloatingPointError, match="log"):
        kg.grad("log(x)", x=0.0)


def test_functions_help_lists_the_registry():
    h = kg.functions_help()
    assert "max_first" in h and "minmod" in h
