//! Which of a list of vectors are equal element by element, in identity class and value bits: the
//! step the linear layer and the convolution take to tell which rows (patches) of their input are
//! the same function of the differentiated variables ([`crate::reverse::Op::element_classes`]).

use crate::scalar::Real;
use std::collections::HashMap;

/// The class of each of `m` vectors of `len` elements (element `i` of vector `q`: identity class
/// `class(q, i)`, value bits `bits(q, i)`): the position of the first vector equal to it in every
/// element's class and bits. Vectors are hashed, and equal hashes compared in full, so unequal
/// vectors never share a class (a hash collision gives a class of its own, finer than the truth,
/// as [`crate::reverse::ElementClasses`] allows). The list is from the installed pool
/// ([`crate::tensor::pool::take_bounded`], `bound` at least `m` vectors in every call of the
/// caller's loop): give it back when done.
///
/// `follows(q)` (asked for `q >= 1`) is evidence the caller has for free: true only when vector `q`
/// equals vector `q - 1` in every element's class and bits (runs of identical columns,
/// [`column_breaks`]). Such a vector takes its predecessor's class unhashed. Each other vector
/// (a run's start) is first compared in full with one candidate, the start that last opened a class
/// and kept it while it went on matching (an image's blank patch, between the runs its strokes
/// break): equal, it takes the candidate's class unhashed; else it is hashed. Equality is
/// transitive, so the classes are those of hashing every vector (a value's first occurrence is
/// never a follower nor a match, so it is hashed). `|_| false` gives no runs.
///
/// `common(q)` is evidence of the same kind: true only when vector `q` equals one fixed vector, the
/// same for every `q` it is true for (a blank patch: every element `+0.0`, [`column_breaks`]).
/// The first such start takes its class as any start does; every later one joins that class with
/// no comparison (both equal the fixed vector, so each other). `|_| false` gives none.
pub(super) fn equal_vectors(
    m: usize,
    bound: usize,
    len: usize,
    class: impl Fn(usize, usize) -> u32,
    bits: impl Fn(usize, usize) -> u64,
    follows: impl Fn(usize) -> bool,
    common: impl Fn(usize) -> bool,
) -> Vec<usize> {
    use crate::tensor::pool::{give, take_bounded};
    // (the same pooled lists are taken whichever way the call goes: the step's pool sees one pattern)
    // the vectors that start a run: the first, and each not known equal to its predecessor
    let mut starts: Vec<usize> = take_bounded(m, bound);
    starts.extend((0..m).filter(|&q| q == 0 || !follows(q)));
    // each start's hashed vector (an index into `hashed`): its own, or the candidate's it matched
    let (mut hashed, mut rep): (Vec<usize>, Vec<usize>) = (take_bounded(m, bound), take_bounded(m, bound));
    // the candidate: (position, index in `hashed`, matched since it opened), and its elements' class
    // and bits, copied once (each comparison then reads only the start's own elements, which lie
    // far apart in a convolution's `colsT`)
    let mut cand: Option<(usize, usize, bool)> = None;
    let mut held: Vec<(u32, u64)> = take_bounded(len, len);
    let same =
        |q: usize, held: &[(u32, u64)]| held.iter().enumerate().all(|(i, &(c, b))| class(q, i) == c && bits(q, i) == b);
    // the class (index in `hashed`) of the first start known equal to the common vector
    let mut common_class = None;
    for &q in &starts {
        let common = common(q);
        match cand {
            _ if common && common_class.is_some() => rep.extend(common_class),
            Some((r, k, _)) if same(q, &held) => {
                rep.push(k);
                cand = Some((r, k, true));
            }
            _ => {
                rep.push(hashed.len());
                if !matches!(cand, Some((_, _, true))) {
                    cand = Some((q, hashed.len(), false));
                    held.clear();
                    held.extend((0..len).map(|i| (class(q, i), bits(q, i))));
                }
                hashed.push(q);
            }
        }
        if common && common_class.is_none() {
            common_class = rep.last().copied();
        }
    }
    give(held);
    let mut first: Vec<usize> = take_bounded(m, bound);
    by_hash(hashed.len(), bound, len, |k, i| class(hashed[k], i), |k, i| bits(hashed[k], i), &mut first);
    // the starts' classes as positions, then each spread over its run, last run first (start `s`
    // sits at `starts[s] >= s`: the entries still to read lie below)
    for r in &mut rep {
        *r = hashed[first[*r]];
    }
    give(first);
    give(hashed);
    let n = starts.len();
    rep.resize(m, 0);
    let mut end = m;
    for s in (0..n).rev() {
        let (a, v) = (starts[s], rep[s]);
        rep[a..end].fill(v);
        end = a;
    }
    give(starts);
    rep
}

/// What one pass along the rows of a row-major `x [len, rows]` tells of its columns
/// ([`column_breaks`]), in lists from the installed pool ([`Columns::give`]).
pub(super) struct Columns {
    /// `breaks[j]`: how many columns `1..=j` differ from the column before them in some row (the
    /// values' own bits, [`Real::own_bits`], which are equal only where the widened bits the
    /// callers' `equal_vectors` compares are): columns `a < b` are equal element by element when
    /// `breaks[a] == breaks[b]` (every column between is equal to its neighbour).
    pub breaks: Vec<u32>,
    /// `blank[j]`: every value of column `j` is `+0.0` (own bits zero).
    pub blank: Vec<bool>,
}

impl Columns {
    /// Give the lists back to the installed pool.
    pub fn give(self) {
        crate::tensor::pool::give(self.breaks);
        crate::tensor::pool::give(self.blank);
    }
}

/// The [`Columns`] of the row-major `x [len, rows]`. The comparisons run along the rows,
/// contiguous, in the CPU's vector registers: for the columns of a convolution's transposed
/// im2col, runs of identical patches and blank patches (an image's background) cost a few
/// operations per element instead of a hash or a comparison in full each ([`equal_vectors`]'
/// `follows` and `common`). A large matrix is read by rayon's threads in blocks of columns (each
/// column's flags depend on its own and its predecessor's values only, so the blocks give the same
/// lists as one pass).
pub(super) fn column_breaks<T: Real>(x: &[T], rows: usize, len: usize) -> Columns {
    use rayon::prelude::*;
    // bit 0: differs from the column before; bit 1: holds a value other than +0.0
    let mut flags: Vec<u8> = crate::tensor::pool::filled(rows, 0);
    // the flags of columns `c0..c0 + out.len()` (`c0 >= 1`)
    let block = |c0: usize, out: &mut [u8]| {
        crate::simd::wide(|| {
            for r in x.chunks_exact(rows).take(len) {
                for ((d, a), b) in out.iter_mut().zip(&r[c0..]).zip(&r[c0 - 1..]) {
                    let (a, b) = (a.own_bits(), b.own_bits());
                    *d |= u8::from(a != b) | u8::from(a != 0) << 1;
                }
            }
        })
    };
    if let Some((first, rest)) = flags.split_first_mut() {
        *first = u8::from((0..len).any(|i| x[i * rows].own_bits() != 0)) << 1;
        // blocks of a multiple of 64 columns (whole cache lines of flags), two or more when the
        // matrix is large
        let per = if rows * len >= 1 << 18 { rest.len().div_ceil(2).next_multiple_of(64) } else { rest.len().max(1) };
        rest.par_chunks_mut(per).enumerate().for_each(|(b, out)| block(1 + b * per, out));
    }
    // (no column before the first: it differs from none)
    let (mut breaks, mut blank): (Vec<u32>, Vec<bool>) =
        (crate::tensor::pool::take(rows), crate::tensor::pool::take(rows));
    let mut n = 0u32;
    breaks.extend(flags.iter().enumerate().map(|(j, &d)| {
        n += u32::from(j > 0 && d & 1 != 0);
        n
    }));
    blank.extend(flags.iter().map(|&d| d & 2 == 0));
    crate::tensor::pool::give(flags);
    Columns { breaks, blank }
}

/// [`equal_vectors`] with every vector hashed, written to `rep` (emptied first).
fn by_hash(
    m: usize,
    bound: usize,
    len: usize,
    class: impl Fn(usize, usize) -> u32,
    bits: impl Fn(usize, usize) -> u64,
    rep: &mut Vec<usize>,
) {
    // FxHash's multiply-rotate step
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let step = |h: u64, v: u64| (h.rotate_left(5) ^ v).wrapping_mul(K);
    let key = |q: usize, i: usize| (u64::from(class(q, i)) << 32) ^ bits(q, i);
    // (the lists of `bound` values, a bound on `m` that does not vary with the step: pooled sizes
    // that every step reuses)
    let mut h: Vec<u64> = crate::tensor::pool::take_bounded(m, bound);
    h.resize(m, len as u64);
    for i in 0..len {
        for (q, h) in h.iter_mut().enumerate() {
            *h = step(*h, key(q, i));
        }
    }
    // the first vector of each hash, then every vector checked against it in full, element by
    // element over all vectors as the hashes were (a mismatch is a hash collision: a class of its own)
    // (the map is this thread's, kept between calls: a training step's `safe` pass allocates no
    // table once the first steps have grown it; the list comes from the installed pool)
    rep.clear();
    FIRST.with(|first| {
        let mut first = first.borrow_mut();
        first.clear();
        first.reserve(bound.max(m));
        rep.extend((0..m).map(|q| *first.entry(h[q]).or_insert(q)));
        if first.capacity() > FIRST_KEEP {
            *first = HashMap::default();
        }
    });
    crate::tensor::pool::give(h);
    let mut same: Vec<bool> = crate::tensor::pool::take_bounded(m, bound);
    same.resize(m, true);
    for i in 0..len {
        for (q, s) in same.iter_mut().enumerate() {
            let r = rep[q];
            *s &= r == q || (class(q, i) == class(r, i) && bits(q, i) == bits(r, i));
        }
    }
    for (q, r) in rep.iter_mut().enumerate() {
        if !same[q] {
            *r = q;
        }
    }
    crate::tensor::pool::give(same);
}

thread_local! {
    /// [`equal_vectors`]' table of the first vector of each hash, kept for the thread's next call.
    static FIRST: std::cell::RefCell<HashMap<u64, usize, BuildIdentity>> = std::cell::RefCell::new(HashMap::default());
}

/// The largest table (entries) kept between calls; a larger one is freed after its call.
const FIRST_KEEP: usize = 1 << 20;

/// A hasher that passes a `u64` key through (the keys of [`equal_vectors`] are hashes already).
#[derive(Default, Clone, Copy)]
struct BuildIdentity;

impl std::hash::BuildHasher for BuildIdentity {
    type Hasher = Identity;
    fn build_hasher(&self) -> Identity {
        Identity(0)
    }
}

/// See [`BuildIdentity`].
struct Identity(u64);

impl std::hash::Hasher for Identity {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

#[cfg(test)]
mod tests {
    use super::{column_breaks, equal_vectors};

    /// Numbers below `n` from a linear congruential generator (Knuth's MMIX constants), seeded.
    fn lcg(mut seed: u64) -> impl FnMut(u64) -> u64 {
        move |n| {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (seed >> 33) % n
        }
    }

    /// Expected classes by hand: vectors 0 and 2 agree everywhere, vector 1 differs from 0 in one
    /// value, vector 3 from 0 in one class only.
    #[test]
    fn equal_in_class_and_bits_only() {
        let vals = [[1.0f64, 2.0, 3.0], [1.0, 2.0, 4.0], [1.0, 2.0, 3.0], [1.0, 2.0, 3.0]];
        let cls = [[7u32, 7, 7], [7, 7, 7], [7, 7, 7], [7, 8, 7]];
        let got = equal_vectors(4, 4, 3, |q, i| cls[q][i], |q, i| vals[q][i].to_bits(), |_| false, |_| false);
        assert_eq!(got, vec![0, 1, 0, 3]);
        // -0.0 and 0.0 are different bits: different constants, not merged
        let z = [0.0f64, -0.0];
        assert_eq!(equal_vectors(2, 2, 1, |_, _| 0, |q, _| z[q].to_bits(), |_| false, |_| false), vec![0, 1]);
    }

    /// The breaks of a 2 x 6 matrix by hand: columns 0-1 equal, 2 differs from 1 in row 1, 3 equals
    /// 2, 4 differs from 3 by the sign of a zero, 5 equals 4.
    #[test]
    fn column_breaks_by_hand() {
        #[rustfmt::skip]
        let x = [
            0.0f32, 0.0, 0.0, 0.0, -0.0, -0.0,
            1.0,    1.0, 2.0, 2.0,  2.0,  2.0,
        ];
        let c = column_breaks(&x, 6, 2);
        assert_eq!(c.breaks, vec![0, 0, 1, 1, 2, 2]);
        assert_eq!(c.blank, vec![false; 6]);
        // blank columns: 0 and 3 hold +0.0 only; 1 holds a -0.0, 2 a 1.0
        #[rustfmt::skip]
        let y = [
            0.0f32, -0.0, 0.0, 0.0,
            0.0,     0.0, 1.0, 0.0,
        ];
        let c = column_breaks(&y, 4, 2);
        assert_eq!((c.breaks, c.blank), (vec![0, 1, 2, 3], vec![true, false, false, true]));
        // one column or none: no breaks
        let c = column_breaks(&[1.0f32, 2.0], 1, 2);
        assert_eq!((c.breaks, c.blank), (vec![0], vec![false]));
        assert_eq!(column_breaks::<f32>(&[], 0, 2).breaks, Vec::<u32>::new());
    }

    /// A matrix large enough to be read in blocks by several threads (8 x 40 000): the flags of
    /// every column as brute force finds them (each column against its predecessor, element by
    /// element; blank when every value is +0.0), whatever the pool's thread count.
    #[test]
    fn column_breaks_in_blocks_match_brute_force() {
        let (len, rows) = (8usize, 40_000usize);
        let mut next = lcg(11);
        // columns in runs: blank, a -0.0 in one row, or a few values
        let mut cols: Vec<[f32; 8]> = Vec::with_capacity(rows);
        while cols.len() < rows {
            let mut c = [0.0f32; 8];
            match next(3) {
                0 => {}
                1 => c[next(8) as usize] = -0.0,
                _ => c.iter_mut().for_each(|v| *v = next(3) as f32),
            }
            let run = 1 + next(50) as usize;
            cols.extend(std::iter::repeat_n(c, run.min(rows - cols.len())));
        }
        let x: Vec<f32> = (0..len).flat_map(|i| cols.iter().map(move |c| c[i])).collect();
        let bits = |c: &[f32; 8]| c.map(f32::to_bits);
        let mut n = 0;
        let breaks: Vec<u32> = (0..rows)
            .map(|j| {
                n += u32::from(j > 0 && bits(&cols[j]) != bits(&cols[j - 1]));
                n
            })
            .collect();
        let blank: Vec<bool> = cols.iter().map(|c| bits(c) == [0; 8]).collect();
        assert!(blank.contains(&true) && blank.contains(&false) && n > 100);
        for threads in [1, 2, 3] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            let c = pool.install(|| column_breaks(&x, rows, len));
            assert_eq!(c.breaks, breaks, "{threads} threads");
            assert_eq!(c.blank, blank, "{threads} threads");
        }
    }

    /// Columns of a matrix in runs of a few patterns (as the blank and inked patches of images), a
    /// listed subset of them: the classes with the runs' evidence (`column_breaks`), and with every
    /// vector hashed, are the brute-force ones (each listed column's first equal listed column,
    /// compared in full: the independent reference).
    #[test]
    fn runs_of_equal_columns_take_the_classes_of_their_first() {
        let (len, rows) = (5usize, 400usize);
        let mut next = lcg(7);
        // patterns: 0 blank, 1..4 fixed inked columns (pattern 3 differs from 0 by a -0.0 only)
        let pattern = |p: usize, i: usize| -> f32 {
            match p {
                0 => 0.0,
                3 => -0.0,
                _ => (p * 10 + i) as f32,
            }
        };
        let mut col = Vec::with_capacity(rows);
        while col.len() < rows {
            let (p, run) = (next(5) as usize, 1 + next(30) as usize);
            col.extend(std::iter::repeat_n(p, run.min(rows - col.len())));
        }
        let x: Vec<f32> = (0..len).flat_map(|i| col.iter().map(move |&p| pattern(p, i))).collect();
        for keep in [1u64, 2, 5] {
            let listed: Vec<usize> = (0..rows).filter(|_| next(keep) == 0).collect();
            let m = listed.len();
            let bits = |q: usize, i: usize| u64::from(x[i * rows + listed[q]].to_bits());
            let brute: Vec<usize> =
                (0..m).map(|q| (0..=q).find(|&r| (0..len).all(|i| bits(q, i) == bits(r, i))).unwrap()).collect();
            let c = column_breaks(&x, rows, len);
            let follows = |q: usize| c.breaks[listed[q]] == c.breaks[listed[q - 1]];
            let blank = |q: usize| c.blank[listed[q]];
            // the runs are real: some listed columns follow their predecessor, some do not; some
            // are blank (pattern 0), some not (the -0.0 of pattern 3 among them)
            assert!((1..m).any(follows) && !(1..m).all(follows), "keep 1/{keep}");
            assert!((0..m).any(blank) && !(0..m).all(blank), "keep 1/{keep}");
            assert!((0..m).all(|q| blank(q) == (col[listed[q]] == 0)), "keep 1/{keep}");
            let none = |_: usize| false;
            for (f, b) in [
                (&follows as &dyn Fn(usize) -> bool, &blank as &dyn Fn(usize) -> bool),
                (&follows, &none),
                (&none, &blank),
                (&none, &none),
            ] {
                assert_eq!(equal_vectors(m, rows, len, |_, _| 0, bits, f, b), brute, "keep 1/{keep}");
            }
        }
    }
}
