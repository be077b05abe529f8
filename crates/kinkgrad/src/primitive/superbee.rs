//! Roe's superbee limiter in slope form: `B(x, y) = max(min(2x, y), min(x, 2y))` for `x, y > 0`,
//! `-B(-x, -y)` for `x, y < 0`, `0` otherwise (`x y <= 0`). The least dissipative TVD limiter.
//!
//! Pieces (tie order): `2y`, `x`, `y`, `2x`, `0`. Switching functions: `x`, `y`, `2y - x`, `x - y`,
//! `y - 2x` (with `r = y / x` on `x, y > 0`: `2y` for `r <= 1/2`, `x` for `1/2 <= r <= 1`, `y` for
//! `1 <= r <= 2`, `2x` for `r >= 2`). Kinks: a slope exactly 0, or `r` exactly 1/2, 1 or 2.
//! Rule: the `limiter` family's ([`super::minmod::LIMITER`]) over the tied pieces (every offered rule is convex, so
//! admissible; default minimum norm: at `(0, y)` the zero piece).

use super::Piecewise;

/// The superbee limiter.
pub struct Superbee;

impl Piecewise for Superbee {
    fn family(&self) -> &'static crate::repr::Family {
        &super::minmod::LIMITER
    }
    fn name(&self) -> &'static str {
        "superbee"
    }
    fn arity(&self) -> usize {
        2
    }
    fn pieces(&self) -> &'static [&'static str] {
        &["2y", "x", "y", "2x", "zero"]
    }
    fn switches(&self) -> usize {
        5
    }
    fn switching(&self, x: &[f64], s: &mut [f64]) {
        s[0] = x[0];
        s[1] = x[1];
        s[2] = 2.0 * x[1] - x[0];
        s[3] = x[0] - x[1];
        s[4] = x[1] - 2.0 * x[0];
    }
    fn switching_linear(&self, t: &[f64], ds: &mut [f64]) {
        self.switching(t, ds)
    }
    fn select(&self, sg: &[i8]) -> u32 {
        let (sx, sy, s2, s3, s4) = (sg[0], sg[1], sg[2], sg[3], sg[4]);
        let mut m = 0;
        if sx * sy <= 0 {
            m |= 0b10000;
        }
        // positive quadrant: r = y / x; 2y for r <= 1/2, x for 1/2 <= r <= 1, y for 1 <= r <= 2, 2x for r >= 2
        if sx >= 0 && sy >= 0 {
            if s2 <= 0 {
                m |= 0b0001;
            }
            if s2 >= 0 && s3 >= 0 {
                m |= 0b0010;
            }
            if s3 <= 0 && s4 <= 0 {
                m |= 0b0100;
            }
            if s4 >= 0 {
                m |= 0b1000;
            }
        }
        // negative quadrant: B(x, y) = -B(-x, -y), every switching function flips sign
        if sx <= 0 && sy <= 0 {
            if s2 >= 0 {
                m |= 0b0001;
            }
            if s2 <= 0 && s3 <= 0 {
                m |= 0b0010;
            }
            if s3 >= 0 && s4 >= 0 {
                m |= 0b0100;
            }
            if s4 <= 0 {
                m |= 0b1000;
            }
        }
        m
    }
    fn piece_value(&self, p: usize, x: &[f64]) -> f64 {
        match p {
            0 => 2.0 * x[1],
            1 => x[0],
            2 => x[1],
            3 => 2.0 * x[0],
            _ => 0.0,
        }
    }
    fn piece_partials(&self, p: usize, _x: &[f64], out: &mut [f64]) {
        let g = [[0.0, 2.0], [1.0, 0.0], [0.0, 1.0], [2.0, 0.0], [0.0, 0.0]][p];
        out[0] = g[0];
        out[1] = g[1];
    }
}

impl Superbee {
    /// The branch-free kernel of the hot loops: `(value, tied set)` (bits in the piece order above),
    /// equal to the declared form on every sign pattern, tie, signed zero and subnormal (tested). On
    /// both closed quadrants the switching functions are those of `(|x|, |y|)` up to one common sign
    /// (negation and a difference of negated operands are exact), so the quadrant's conditions are
    /// evaluated once on the absolute values.
    #[inline(always)]
    pub fn value_and_pieces(x: f64, y: f64) -> (f64, u8) {
        let (ax, ay) = (x.abs(), y.abs());
        let pos = (x > 0.0) & (y > 0.0);
        let neg = (x < 0.0) & (y < 0.0);
        let quad = ((x >= 0.0) & (y >= 0.0)) | ((x <= 0.0) & (y <= 0.0));
        let m = (2.0 * ax).min(ay).max(ax.min(2.0 * ay));
        let v = if pos {
            m
        } else if neg {
            -m
        } else {
            0.0
        };
        let (d2, d3, d4) = (2.0 * ay - ax, ax - ay, ay - 2.0 * ax);
        let b0 = quad & (d2 <= 0.0);
        let b1 = quad & (d2 >= 0.0) & (d3 >= 0.0);
        let b2 = quad & (d3 <= 0.0) & (d4 <= 0.0);
        let b3 = quad & (d4 >= 0.0);
        let b4 = !(pos | neg);
        (v, b0 as u8 | (b1 as u8) << 1 | (b2 as u8) << 2 | (b3 as u8) << 3 | (b4 as u8) << 4)
    }
}

#[cfg(test)]
mod tests {
    use super::super::fast_kernel_tests::assert_fast_equals_declared;
    use super::*;

    #[test]
    fn fast_kernel_is_the_declared_form() {
        assert_fast_equals_declared(&Superbee, |x, y| {
            let (v, m) = Superbee::value_and_pieces(x, y);
            (v, m as u32)
        });
    }
}
