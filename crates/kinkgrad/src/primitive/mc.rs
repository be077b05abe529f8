//! The monotonized central (MC) limiter of van Leer in slope form:
//! `B(x, y) = min(2x, (x + y)/2, 2y)` for `x, y > 0`, `-B(-x, -y)` for `x, y < 0`, `0` otherwise.
//!
//! Pieces (tie order): `2y`, `(x + y)/2`, `2x`, `0`. Switching functions: `x`, `y`, `3y - x`,
//! `y - 3x` (`2y` where `3y <= x`, `2x` where `3x <= y`). Kinks: a slope exactly 0, or `y = 3x`,
//! `x = 3y`. Rule: the `limiter` family's ([`super::minmod::LIMITER`]) over the tied pieces (convex, so admissible;
//! default minimum norm).

use super::Piecewise;

/// The MC limiter.
pub struct Mc;

impl Piecewise for Mc {
    fn family(&self) -> &'static crate::repr::Family {
        &super::minmod::LIMITER
    }
    fn name(&self) -> &'static str {
        "mc"
    }
    fn arity(&self) -> usize {
        2
    }
    fn pieces(&self) -> &'static [&'static str] {
        &["2y", "mean", "2x", "zero"]
    }
    fn switches(&self) -> usize {
        4
    }
    fn switching(&self, x: &[f64], s: &mut [f64]) {
        s[0] = x[0];
        s[1] = x[1];
        s[2] = 3.0 * x[1] - x[0];
        s[3] = x[1] - 3.0 * x[0];
    }
    fn switching_linear(&self, t: &[f64], ds: &mut [f64]) {
        self.switching(t, ds)
    }
    fn select(&self, sg: &[i8]) -> u32 {
        let (sx, sy, s2, s3) = (sg[0], sg[1], sg[2], sg[3]);
        let mut m = 0;
        if sx * sy <= 0 {
            m |= 0b1000;
        }
        // positive quadrant: 2y when 2y <= (x+y)/2 (3y <= x), 2x when 2x <= (x+y)/2 (3x <= y)
        if sx >= 0 && sy >= 0 {
            if s2 <= 0 {
                m |= 0b001;
            }
            if s2 >= 0 && s3 <= 0 {
                m |= 0b010;
            }
            if s3 >= 0 {
                m |= 0b100;
            }
        }
        if sx <= 0 && sy <= 0 {
            if s2 >= 0 {
                m |= 0b001;
            }
            if s2 <= 0 && s3 >= 0 {
                m |= 0b010;
            }
            if s3 <= 0 {
                m |= 0b100;
            }
        }
        m
    }
    fn piece_value(&self, p: usize, x: &[f64]) -> f64 {
        match p {
            0 => 2.0 * x[1],
            1 => 0.5 * (x[0] + x[1]),
            2 => 2.0 * x[0],
            _ => 0.0,
        }
    }
    fn piece_partials(&self, p: usize, _x: &[f64], out: &mut [f64]) {
        let g = [[0.0, 2.0], [0.5, 0.5], [2.0, 0.0], [0.0, 0.0]][p];
        out[0] = g[0];
        out[1] = g[1];
    }
}

impl Mc {
    /// The branch-free kernel of the hot loops: `(value, tied set)`, equal to the declared form on
    /// every sign pattern, tie, signed zero and subnormal (tested); the quadrant conditions are
    /// evaluated on `(|x|, |y|)` as for [`super::superbee::Superbee::value_and_pieces`].
    #[inline(always)]
    pub fn value_and_pieces(x: f64, y: f64) -> (f64, u8) {
        let (ax, ay) = (x.abs(), y.abs());
        let pos = (x > 0.0) & (y > 0.0);
        let neg = (x < 0.0) & (y < 0.0);
        let quad = ((x >= 0.0) & (y >= 0.0)) | ((x <= 0.0) & (y <= 0.0));
        let m = (2.0 * ax).min(0.5 * (ax + ay)).min(2.0 * ay);
        let v = if pos {
            m
        } else if neg {
            -m
        } else {
            0.0
        };
        let (d2, d3) = (3.0 * ay - ax, ay - 3.0 * ax);
        let b0 = quad & (d2 <= 0.0);
        let b1 = quad & (d2 >= 0.0) & (d3 <= 0.0);
        let b2 = quad & (d3 >= 0.0);
        let b3 = !(pos | neg);
        (v, b0 as u8 | (b1 as u8) << 1 | (b2 as u8) << 2 | (b3 as u8) << 3)
    }
}

#[cfg(test)]
mod tests {
    use super::super::fast_kernel_tests::assert_fast_equals_declared;
    use super::*;

    #[test]
    fn fast_kernel_is_the_declared_form() {
        assert_fast_equals_declared(&Mc, |x, y| {
            let (v, m) = Mc::value_and_pieces(x, y);
            (v, m as u32)
        });
    }
}
