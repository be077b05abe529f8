//! The distinct keys of a list, ascending, and where each key of the list is among them: the
//! engine's identity-class lookups ([`super::backward`]) and the convolution's patches
//! ([`super::ops`]) both ask a producer once per distinct element.

use crate::tensor::pool;

/// The distinct keys (each below `n`) of a list, ascending ([`Distinct::uniq`]), and each key's
/// position among them ([`Distinct::index`]). Many keys (at least `n / 8`): marked in a position map
/// over `0..n` (no sort); few: sorted and de-duplicated, and looked up by binary search. The buffers
/// come from the installed pool ([`Distinct::give`] returns them).
pub(crate) struct Distinct {
    /// The distinct keys, ascending.
    pub(crate) uniq: Vec<usize>,
    /// `pos[k]`: the position of key `k` in `uniq` (empty when the keys were few).
    pos: Vec<u32>,
}

impl Distinct {
    /// The distinct keys of `keys` (`len` of them, each below `n`).
    pub(crate) fn new(keys: impl Iterator<Item = usize> + Clone, len: usize, n: usize) -> Self {
        if len >= n / 8 {
            let mut pos = pool::filled(n, u32::MAX);
            for k in keys {
                pos[k] = 0;
            }
            // one pass, without a branch on the keys: every `k` is written at the end of `uniq` and
            // kept (the end moves on) when marked, and a marked key's position is where it was kept
            // (an unmarked key's entry is never read)
            let mut uniq = pool::filled(n, 0);
            let mut end = 0;
            for (k, p) in pos.iter_mut().enumerate() {
                let marked = *p == 0;
                uniq[end] = k;
                *p = end as u32;
                end += usize::from(marked);
            }
            uniq.truncate(end);
            Distinct { uniq, pos }
        } else {
            let mut uniq = pool::take_bounded(len, n);
            uniq.extend(keys);
            uniq.sort_unstable();
            uniq.dedup();
            Distinct { uniq, pos: Vec::new() }
        }
    }
    /// The position of key `k` (one of the keys listed) among the distinct keys.
    pub(crate) fn index(&self, k: usize) -> Option<usize> {
        match self.pos.is_empty() {
            true => self.uniq.binary_search(&k).ok(),
            false => Some(self.pos[k] as usize),
        }
    }
    /// Give the buffers back to the installed pool.
    pub(crate) fn give(self) {
        pool::give(self.uniq);
        pool::give(self.pos);
    }
}

#[cfg(test)]
mod tests {
    use super::Distinct;

    /// Both ways (few keys: sorted; many: the position map) give the distinct keys ascending and
    /// each key's position among them, as listed by hand.
    #[test]
    fn both_ways_find_the_same_positions() {
        let keys = [5usize, 2, 5, 9, 2, 0];
        for n in [10, 1000] {
            let d = Distinct::new(keys.iter().copied(), keys.len(), n);
            assert_eq!(d.uniq, vec![0, 2, 5, 9]);
            let got: Vec<_> = keys.iter().map(|&k| d.index(k)).collect();
            assert_eq!(got, vec![Some(2), Some(1), Some(2), Some(3), Some(1), Some(0)]);
            d.give();
        }
    }
}
