//! The timing method of `kinkgrad bench`: the sides of a comparison (kinkgrad's variants and a peer
//! serving its workload) run in short alternating blocks, side 1, side 2, ..., side 1, side 2, ...,
//! and each ratio is the median over the rounds of the ratio of the two sides' block medians. Blocks
//! of one round run a few milliseconds apart, under the same machine state, so a drift of the
//! machine's speed (up to 1.7x within seconds on a shared 2-core VM) moves both sides of a pair alike
//! and cancels in their ratio, where a ratio of two medians measured seconds apart would keep it.

use std::time::{Duration, Instant};

/// One side of an interleaved comparison: times `n` calls and returns each call's seconds.
pub(crate) struct Side<'a> {
    run: Box<dyn FnMut(usize) -> Result<Vec<f64>, String> + 'a>,
    /// A peer's side: its error ends this side only (the row says why), not the command.
    peer: bool,
}

impl<'a> Side<'a> {
    /// A side timed in this process: each call of `step` is one timed call.
    pub(crate) fn local(mut step: impl FnMut() -> Result<(), String> + 'a) -> Self {
        let run = move |n: usize| {
            (0..n)
                .map(|_| {
                    let s = Instant::now();
                    step()?;
                    Ok(s.elapsed().as_secs_f64())
                })
                .collect()
        };
        Side { run: Box::new(run), peer: false }
    }

    /// A peer's side: `block(n)` asks the peer for `n` timed calls.
    pub(crate) fn peer(block: impl FnMut(usize) -> Result<Vec<f64>, String> + 'a) -> Self {
        Side { run: Box::new(block), peer: true }
    }
}

/// Untimed calls of each side before the first round (the peers warm up before serving as well).
const WARM: usize = 2;

/// The pause before each block: the side that ran before has its worker threads spin-wait for a while
/// after its last call (OpenMP's default spin of PyTorch is some 10 ms, rayon's and XLA's pools spin
/// briefly); without the pause they would compete for the cores with the first calls of the next
/// block, a penalty that always falls on the side that follows the peer.
const SETTLE: Duration = Duration::from_millis(30);

/// What [`interleave`] measured: per side, the step times of each block, or why a peer's side
/// stopped.
pub(crate) struct Timings {
    /// `blocks[side][round]`: the seconds of each call of that block.
    pub blocks: Vec<Vec<Vec<f64>>>,
    /// Why a peer's side stopped (its blocks are then not used).
    pub failed: Vec<Option<String>>,
}

/// Runs `rounds` rounds of one block of `reps` calls of each side, in the order of `sides`, after
/// [`WARM`] untimed calls of each; each block follows a pause of [`SETTLE`]. A local side's error is
/// returned; a peer side's error stops that side and is kept in [`Timings::failed`].
pub(crate) fn interleave(sides: &mut [Side], rounds: usize, reps: usize) -> Result<Timings, String> {
    let n = sides.len();
    let mut t = Timings { blocks: vec![Vec::new(); n], failed: vec![None; n] };
    for round in 0..=rounds {
        for (i, side) in sides.iter_mut().enumerate() {
            if t.failed[i].is_some() {
                continue;
            }
            let want = if round == 0 { WARM } else { reps.max(1) };
            std::thread::sleep(SETTLE);
            match (side.run)(want).and_then(|b| checked(b, want)) {
                Ok(b) if round > 0 => t.blocks[i].push(b),
                Ok(_) => {}
                Err(e) if side.peer => t.failed[i] = Some(e),
                Err(e) => return Err(e),
            }
        }
    }
    Ok(t)
}

/// A block's times: `want` of them, each finite and positive.
fn checked(b: Vec<f64>, want: usize) -> Result<Vec<f64>, String> {
    if b.len() != want {
        return Err(format!("asked for {want} timed calls, got {}", b.len()));
    }
    if let Some(x) = b.iter().find(|x| !(x.is_finite() && **x > 0.0)) {
        return Err(format!("a call time of {x} s (not a positive number)"));
    }
    Ok(b)
}

impl Timings {
    /// The median of every call time of `side`, all blocks together; `None` when the side failed.
    pub fn seconds(&self, side: usize) -> Option<f64> {
        if self.failed[side].is_some() {
            return None;
        }
        let all: Vec<f64> = self.blocks[side].iter().flatten().copied().collect();
        quantile(all, 0.5)
    }

    /// The ratio `num / den` pair by pair over the rounds (block medians); `None` when either side
    /// failed.
    pub fn ratio(&self, num: usize, den: usize) -> Option<PairStats> {
        if self.failed[num].is_some() || self.failed[den].is_some() {
            return None;
        }
        let med = |s: usize| -> Vec<f64> { self.blocks[s].iter().filter_map(|b| quantile(b.clone(), 0.5)).collect() };
        pair_ratios(&med(num), &med(den))
    }

    /// The first failed side's reason, if any.
    pub fn why(&self) -> Option<&str> {
        self.failed.iter().flatten().next().map(String::as_str)
    }
}

/// The spread of the per-pair ratios of two sides.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct PairStats {
    /// The median of the per-pair ratios.
    pub median: f64,
    /// Their first and third quartiles (linear interpolation between order statistics).
    pub q1: f64,
    pub q3: f64,
    /// The number of pairs.
    pub pairs: usize,
}

/// The ratios `num[i] / den[i]` of the pairs of two time sequences (as many pairs as the shorter
/// one has), summarised; `None` without a pair.
pub(crate) fn pair_ratios(num: &[f64], den: &[f64]) -> Option<PairStats> {
    let r: Vec<f64> = num.iter().zip(den).map(|(a, b)| a / b).collect();
    let pairs = r.len();
    Some(PairStats { median: quantile(r.clone(), 0.5)?, q1: quantile(r.clone(), 0.25)?, q3: quantile(r, 0.75)?, pairs })
}

/// The `p`-quantile of `v` by linear interpolation between order statistics (the median of an
/// even count is the mean of the middle two); `None` for an empty `v`.
pub(crate) fn quantile(mut v: Vec<f64>, p: f64) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let h = (v.len() - 1) as f64 * p;
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(v.len() - 1);
    Some(v[lo] + (h - lo as f64) * (v[hi] - v[lo]))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pair ratios by hand: (2/1, 3/1, 8/2, 5/5, 9/3) = (2, 3, 4, 1, 3), sorted 1 2 3 3 4: median 3,
    /// q1 at position 1 = 2, q3 at position 3 = 3. A drift that doubles both sides of a pair leaves
    /// its ratio alone, where the ratio of the two sides' medians would not: num (1, 1, 4, 4)
    /// against den (1, 1, 2, 2) pairs to ratios (1, 1, 2, 2), median 1.5 (mean of the middle two),
    /// q1 at position 0.75 = 1, q3 at 2.25 = 2.
    #[test]
    fn median_of_pair_ratios_by_hand() {
        let s = pair_ratios(&[2.0, 3.0, 8.0, 5.0, 9.0], &[1.0, 1.0, 2.0, 5.0, 3.0]).unwrap();
        assert_eq!(s, PairStats { median: 3.0, q1: 2.0, q3: 3.0, pairs: 5 });
        let s = pair_ratios(&[1.0, 1.0, 4.0, 4.0], &[1.0, 1.0, 2.0, 2.0]).unwrap();
        assert_eq!(s, PairStats { median: 1.5, q1: 1.0, q3: 2.0, pairs: 4 });
        // the shorter sequence decides the number of pairs; none is no figure
        assert_eq!(pair_ratios(&[6.0, 1.0], &[3.0]).map(|s| (s.median, s.pairs)), Some((2.0, 1)));
        assert_eq!(pair_ratios(&[], &[1.0]), None);
    }

    /// Interleaving: a side that counts its calls sees the warm-up and each round's block; a peer
    /// side that fails in round 2 stops there and is reported, the other sides go on; a local side's
    /// failure is the command's error.
    #[test]
    fn interleave_runs_rounds_and_keeps_a_peers_failure() {
        let mut calls = 0;
        let mut asked = 0;
        let mut sides = [
            Side::local(|| {
                calls += 1;
                Ok(())
            }),
            Side::peer(|n| {
                asked += 1;
                if asked == 3 {
                    Err("peer exited".into())
                } else {
                    Ok(vec![0.5; n])
                }
            }),
        ];
        let t = interleave(&mut sides, 4, 3).unwrap();
        drop(sides);
        assert_eq!(calls, WARM + 4 * 3);
        assert_eq!(t.blocks[0].len(), 4);
        assert_eq!(t.blocks[1], vec![vec![0.5; 3]]);
        assert_eq!((t.why(), t.seconds(1), t.ratio(0, 1)), (Some("peer exited"), None, None));
        let mut bad = [Side::local(|| Err("no".to_string()))];
        assert_eq!(interleave(&mut bad, 1, 1).err().as_deref(), Some("no"));
        let mut zero = [Side::peer(|n| Ok(vec![0.0; n]))];
        assert!(interleave(&mut zero, 1, 1).unwrap().why().unwrap().contains("not a positive number"));
    }
}
