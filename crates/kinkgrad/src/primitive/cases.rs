//! Hand-derived associated gradients at kinks of the registered primitives: one table, read by the
//! registry tests (`tests/it/registry.rs`) and by `kinkgrad reproduce` (which recomputes every
//! case in its run and compares). Each case is a primitive at a point where several of its pieces
//! are active, a representation, and the associated gradient derived by hand from the pieces'
//! gradients and the representation's weights. Tie rules act on the tied pieces in declared order
//! (clamp: x, lo, hi; max: a, b; minmod: a, b, 0).

use crate::repr::{Representation, TieRule};

/// One hand-derived associated gradient at a kink.
#[derive(Clone, Debug)]
pub struct KinkCase {
    /// The primitive's registry name (`relu`, `max`, `minmod`, ...).
    pub primitive: &'static str,
    /// The point (one value per argument), on a kink.
    pub point: Vec<f64>,
    /// The representation of the tape.
    pub representation: Representation,
    /// The associated gradient (`assoc` mode), one partial per argument, derived by hand.
    pub assoc: Vec<f64>,
}

/// Every hand-derived case (the derivations are the comments of the table).
pub fn hand_cases() -> Vec<KinkCase> {
    let with = |r: TieRule| Representation::default().with_all_ties(r);
    let z = |v: f64| Representation::default().with_relu_at_zero(v);
    let parse = |s: &str| s.parse::<Representation>().expect("a valid representation name");
    let lk = |v: f64| parse(&format!("minnorm[leaky_relu={v}]"));
    let abs_rep = parse("minnorm[abs=0.5]");
    let ht = parse("minnorm[hardtanh=0.25]");
    let w31 = TieRule::Weighted(vec![3.0, 1.0, 2.0]);
    #[rustfmt::skip]
    let cases: Vec<(&'static str, Vec<f64>, Representation, Vec<f64>)> = vec![
        // relu'(0) = z for any real z
        ("relu", vec![0.0], z(0.0), vec![0.0]),
        ("relu", vec![0.0], z(0.5), vec![0.5]),
        ("relu", vec![0.0], z(-2.0), vec![-2.0]),
        // leaky (slope 0.01), weight w on the identity piece: s + w (1 - s); relu'(0) does not touch it
        ("leaky_relu", vec![0.0], lk(0.0), vec![0.01]),
        ("leaky_relu", vec![0.0], lk(1.0), vec![1.0]),
        ("leaky_relu", vec![0.0], lk(0.5), vec![0.505]),
        ("leaky_relu", vec![0.0], z(1.0), vec![0.01]),
        // abs'(0) = a; weights (1 - a)/2 on -x and (1 + a)/2 on x
        ("abs", vec![0.0], Representation::default(), vec![0.0]),
        ("abs", vec![0.0], abs_rep.clone(), vec![0.5]),
        // hardtanh at the bounds: weight h on x
        ("hardtanh", vec![1.0], ht.clone(), vec![0.25]),
        ("hardtanh", vec![-1.0], ht.clone(), vec![0.25]),
        // max(1, 1): first (1,0), last (0,1), mean and minnorm (1/2,1/2), weighted 3:1 (3/4,1/4)
        ("max", vec![1.0, 1.0], with(TieRule::First), vec![1.0, 0.0]),
        ("max", vec![1.0, 1.0], with(TieRule::Last), vec![0.0, 1.0]),
        ("max", vec![1.0, 1.0], with(TieRule::Mean), vec![0.5, 0.5]),
        ("max", vec![1.0, 1.0], with(TieRule::MinNorm), vec![0.5, 0.5]),
        ("max", vec![1.0, 1.0], with(w31.clone()), vec![0.75, 0.25]),
        ("min", vec![-2.0, -2.0], with(TieRule::First), vec![1.0, 0.0]),
        ("min", vec![-2.0, -2.0], with(TieRule::Last), vec![0.0, 1.0]),
        // clamp(x, lo, hi) at x = lo = 0 < hi = 1: pieces x and lo tied
        ("clamp", vec![0.0, 0.0, 1.0], with(TieRule::First), vec![1.0, 0.0, 0.0]),
        ("clamp", vec![0.0, 0.0, 1.0], with(TieRule::Last), vec![0.0, 1.0, 0.0]),
        ("clamp", vec![0.0, 0.0, 1.0], with(TieRule::MinNorm), vec![0.5, 0.5, 0.0]),
        ("clamp", vec![0.0, 0.0, 1.0], with(w31.clone()), vec![0.75, 0.25, 0.0]),
        // at x = hi: pieces x and hi; weighted by position (x: 3, hi: 2) -> (3/5, 0, 2/5)
        ("clamp", vec![1.0, 0.0, 1.0], with(TieRule::Last), vec![0.0, 0.0, 1.0]),
        ("clamp", vec![1.0, 0.0, 1.0], with(w31.clone()), vec![0.6, 0.0, 0.4]),
        // minmod(0, 0): pieces a, b, 0 all tied. minnorm: the zero piece; mean 1/3 each; first: a
        ("minmod", vec![0.0, 0.0], with(TieRule::MinNorm), vec![0.0, 0.0]),
        ("minmod", vec![0.0, 0.0], with(TieRule::Mean), vec![1.0 / 3.0, 1.0 / 3.0]),
        ("minmod", vec![0.0, 0.0], with(TieRule::First), vec![1.0, 0.0]),
        ("minmod", vec![0.0, 0.0], with(TieRule::Last), vec![0.0, 0.0]),
        ("minmod", vec![0.0, 0.0], with(w31.clone()), vec![0.5, 1.0 / 6.0]),
        // minmod(1, 1) and (-1, -1): a and b tied
        ("minmod", vec![1.0, 1.0], with(TieRule::MinNorm), vec![0.5, 0.5]),
        ("minmod", vec![-1.0, -1.0], with(TieRule::Last), vec![0.0, 1.0]),
        // minmod(0, 2): a and the zero piece tied (both are 0 there)
        ("minmod", vec![0.0, 2.0], with(TieRule::First), vec![1.0, 0.0]),
        ("minmod", vec![0.0, 2.0], with(TieRule::Mean), vec![0.5, 0.0]),
        ("minmod", vec![0.0, 2.0], with(TieRule::MinNorm), vec![0.0, 0.0]),
        // superbee(x, y), pieces 2y, x, y, 2x, 0 (slopes (0,2), (1,0), (0,1), (2,0), (0,0)). At (0, 0)
        // all five are tied: first = 2y, minnorm = the zero piece, mean = their average (3/5, 3/5)
        ("superbee", vec![0.0, 0.0], with(TieRule::First), vec![0.0, 2.0]),
        ("superbee", vec![0.0, 0.0], with(TieRule::MinNorm), vec![0.0, 0.0]),
        ("superbee", vec![0.0, 0.0], with(TieRule::Mean), vec![0.6, 0.6]),
        // y / x = 1/2 at (2, 1): 2y and x tied; y / x = 1 at (1, 1): x and y tied
        ("superbee", vec![2.0, 1.0], with(TieRule::First), vec![0.0, 2.0]),
        ("superbee", vec![2.0, 1.0], with(TieRule::Last), vec![1.0, 0.0]),
        ("superbee", vec![1.0, 1.0], with(TieRule::Mean), vec![0.5, 0.5]),
        // MC, pieces 2y, (x+y)/2, 2x, 0: at (0, 0) all four tied, mean (5/8, 5/8); at (3, 1)
        // (3y = x) 2y and the mean piece tied
        ("mc", vec![0.0, 0.0], with(TieRule::Mean), vec![0.625, 0.625]),
        ("mc", vec![0.0, 0.0], with(TieRule::MinNorm), vec![0.0, 0.0]),
        ("mc", vec![3.0, 1.0], with(TieRule::First), vec![0.0, 2.0]),
        ("mc", vec![3.0, 1.0], with(TieRule::Last), vec![0.5, 0.5]),
        ];
    cases
        .into_iter()
        .map(|(primitive, point, representation, assoc)| KinkCase { primitive, point, representation, assoc })
        .collect()
}
