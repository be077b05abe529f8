//! Which of a list of vectors are equal element by element, in identity class and value bits: the
//! step the linear layer and the convolution take to tell which rows (patches) of their input are
//! the same function of the differentiated variables ([`crate::reverse::Op::element_classes`]).

use std::collections::HashMap;

/// The class of each of `m` vectors of `len` elements (element `i` of vector `q`: identity class
/// `class(q, i)`, value bits `bits(q, i)`): the position of the first vector equal to it in every
/// element's class and bits. Vectors are hashed, and equal hashes compared in full, so unequal
/// vectors never share a class (a hash collision gives a class of its own, finer than the truth,
/// as [`crate::reverse::ElementClasses`] allows). The list is from the installed pool
/// ([`crate::tensor::pool::take_bounded`], `bound` at least `m` vectors in every call of the
/// caller's loop): give it back when done.
///
/// The hashes and the full comparisons run element by element over all vectors (`q` inner): for a
/// strided layout, such as the columns of the convolution's transposed im2col, consecutive reads are
/// then neighbours, and the vectors' multiply chains are independent of each other.
pub(super) fn equal_vectors(
    m: usize,
    bound: usize,
    len: usize,
    class: impl Fn(usize, usize) -> u32,
    bits: impl Fn(usize, usize) -> u64,
) -> Vec<usize> {
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
    let mut rep: Vec<usize> = crate::tensor::pool::take_bounded(m, bound);
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
    rep
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
    use super::equal_vectors;

    /// Expected classes by hand: vectors 0 and 2 agree everywhere, vector 1 differs from 0 in one
    /// value, vector 3 from 0 in one class only.
    #[test]
    fn equal_in_class_and_bits_only() {
        let vals = [[1.0f64, 2.0, 3.0], [1.0, 2.0, 4.0], [1.0, 2.0, 3.0], [1.0, 2.0, 3.0]];
        let cls = [[7u32, 7, 7], [7, 7, 7], [7, 7, 7], [7, 8, 7]];
        let got = equal_vectors(4, 4, 3, |q, i| cls[q][i], |q, i| vals[q][i].to_bits());
        assert_eq!(got, vec![0, 1, 0, 3]);
        // -0.0 and 0.0 are different bits: different constants, not merged
        let z = [0.0f64, -0.0];
        assert_eq!(equal_vectors(2, 2, 1, |_, _| 0, |q, _| z[q].to_bits()), vec![0, 1]);
    }
}
