//! Scalar types: the precision of a computation is a type parameter.
//!
//! `f64` and `f32` compute natively. `f16` and `bf16` (from the `half` crate) store 16 bits; every
//! element-wise result is computed in `f32` and rounded to 16 bits, and matrix products accumulate in
//! `f32` and round once at the end. Rounding to 16 bits is where ties (kinks) become common: two
//! distinct `f64` numbers can round to the same `f16`.

use crate::round16::{f16_from_f32, f16_to_f32, to_f32_odd};
use half::{bf16, f16};
use std::fmt::Debug;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A floating-point element type of a [`crate::Tensor`].
///
/// All arithmetic on the tape goes through these methods, so that 16-bit types round every result.
pub trait Real:
    Copy
    + Send
    + Sync
    + Default
    + Debug
    + PartialOrd
    + PartialEq
    + 'static
    + std::ops::Add<Output = Self>
    + std::ops::Sub<Output = Self>
    + std::ops::Mul<Output = Self>
    + std::ops::Div<Output = Self>
    + std::ops::Neg<Output = Self>
{
    /// Name used in reports and files: `f64`, `f32`, `f16`, `bf16`.
    const NAME: &'static str;
    /// Zero.
    const ZERO: Self;
    /// One.
    const ONE: Self;
    /// Nearest value of this type (round to nearest even).
    fn from_f64(v: f64) -> Self;
    /// Exact widening to `f64`.
    fn to_f64(self) -> f64;
    /// Nearest value of this type from an `f32`.
    fn from_f32(v: f32) -> Self;
    /// Widening (or for `f64`, narrowing) to `f32`.
    fn to_f32(self) -> f32;
    /// True when the value is neither infinite nor NaN.
    fn is_finite(self) -> bool;
    /// The value's own bits (its IEEE encoding in this type), zero-extended: equal bits are equal
    /// values, and so are equal bits of [`Real::to_f64`] (the widening is a function of them). A
    /// cheaper test than comparing widened bits where a finer one is allowed (two NaNs of one
    /// widened encoding may differ here).
    fn own_bits(self) -> u64;
    /// Apply a smooth scalar function computed in `f64` and rounded back to this type.
    #[inline]
    fn map_f64(self, f: impl Fn(f64) -> f64) -> Self {
        Self::from_f64(f(self.to_f64()))
    }
    /// Matrix product `c = a (m x k) * b (k x n)` with arbitrary strides (in elements).
    /// 16-bit types accumulate in `f32` and round once.
    #[allow(clippy::too_many_arguments)]
    fn gemm(
        m: usize,
        n: usize,
        k: usize,
        a: &[Self],
        a_rs: isize,
        a_cs: isize,
        b: &[Self],
        b_rs: isize,
        b_cs: isize,
        c: &mut [Self],
    ) {
        Self::gemm_bias(m, n, k, a, a_rs, a_cs, b, b_rs, b_cs, &[], c)
    }
    /// `c = a b + bias` (as [`Real::gemm`], `bias` of length `n` added to every row; empty: none).
    ///
    /// `f32`/`f64`: the product, then `c + bias` rounded (the bits of a product followed by a
    /// broadcast add). `f16`/`bf16`: the products accumulate in `f32`, the bias joins the `f32` sum
    /// after them, and the result is rounded **once** to 16 bits, as PyTorch's `addmm` (and so
    /// `nn.Linear`) does on the CPU (measured against torch 2.15: docs/studies.md).
    #[allow(clippy::too_many_arguments)]
    fn gemm_bias(
        m: usize,
        n: usize,
        k: usize,
        a: &[Self],
        a_rs: isize,
        a_cs: isize,
        b: &[Self],
        b_rs: isize,
        b_cs: isize,
        bias: &[Self],
        c: &mut [Self],
    ) {
        // SAFETY: `MaybeUninit<Self>` has the layout of `Self`, and `gemm_bias_uninit` writes only
        // initialised values into it, so `c` stays initialised
        let c = unsafe { &mut *(c as *mut [Self] as *mut [MaybeUninit<Self>]) };
        Self::gemm_bias_uninit(m, n, k, a, a_rs, a_cs, b, b_rs, b_cs, bias, c)
    }
    /// [`Real::gemm_bias`] into a buffer whose first `m * n` values need not be initialised (a
    /// vector's spare capacity): every one of them is written, none is read, so an output buffer
    /// costs no zero fill.
    #[allow(clippy::too_many_arguments)]
    fn gemm_bias_uninit(
        m: usize,
        n: usize,
        k: usize,
        a: &[Self],
        a_rs: isize,
        a_cs: isize,
        b: &[Self],
        b_rs: isize,
        b_cs: isize,
        bias: &[Self],
        c: &mut [MaybeUninit<Self>],
    );
    /// [`Real::gemm_bias_uninit`] with the bias along the rows: `bias` empty or of length `m`,
    /// `bias[i]` added to every value of row `i`. `f32`/`f64`: the product, then `c + bias` rounded;
    /// `f16`/`bf16`: the bias joins the `f32` sums before the one rounding. Each value gets the
    /// bits it gets in the transposed product with the bias along its columns.
    #[allow(clippy::too_many_arguments)]
    fn gemm_row_bias_uninit(
        m: usize,
        n: usize,
        k: usize,
        a: &[Self],
        a_rs: isize,
        a_cs: isize,
        b: &[Self],
        b_rs: isize,
        b_cs: isize,
        bias: &[Self],
        c: &mut [MaybeUninit<Self>],
    ) {
        assert!(bias.is_empty() || bias.len() == m, "gemm: row bias of the wrong length");
        Self::gemm_bias_uninit(m, n, k, a, a_rs, a_cs, b, b_rs, b_cs, &[], c);
        // SAFETY: the product wrote the first m * n values
        let c = unsafe { &mut *(&mut c[..m * n] as *mut [MaybeUninit<Self>] as *mut [Self]) };
        if n > 0 {
            crate::simd::wide(|| {
                for (row, &b) in c.chunks_mut(n).zip(bias) {
                    row.iter_mut().for_each(|v| *v = *v + b);
                }
            });
        }
    }
}

/// `row + bias` for every row of `c` (`n` columns), element by element in the type's own arithmetic.
fn add_rows<T: Copy + std::ops::Add<Output = T>>(c: &mut [T], bias: &[T]) {
    if bias.is_empty() {
        return;
    }
    crate::simd::wide(|| {
        for row in c.chunks_mut(bias.len()) {
            for (v, &b) in row.iter_mut().zip(bias) {
                *v = *v + b;
            }
        }
    });
}

/// Threads for one product: all of rayon's for large products, except inside a rayon task (a product
/// within a parallel loop, e.g. one chunk of a batch), where the loop already keeps every core busy
/// and a nested split only adds synchronisation.
fn parallelism(m: usize, n: usize, k: usize) -> gemm::Parallelism {
    if m * n * k >= 64 * 64 * 64 && rayon::current_thread_index().is_none() {
        gemm::Parallelism::Rayon(0)
    } else {
        gemm::Parallelism::None
    }
}

/// A raw pointer that may cross to another rayon task (the two parts of a split product write
/// disjoint columns of `c` and only read `a` and `b`).
#[derive(Clone, Copy)]
struct SendPtr<T>(*mut T);
// SAFETY: see the type's doc: the tasks touch disjoint memory or only read.
unsafe impl<T> Send for SendPtr<T> {}
unsafe impl<T> Sync for SendPtr<T> {}

/// `c (m x n, row-major) = a b` through `gemm` for `f32`/`f64`.
///
/// A large product (at least 64^3 multiply-adds) is split into two parts along its longer side
/// of `c`, each one `gemm` call on its own rayon task: columns when it has fewer rows than
/// columns (the batch-times-features products of a network, e.g. 128 x 512 x 784), rows
/// otherwise (the weight gradients, e.g. 784 x 512 x 128, and products with a narrow output, e.g.
/// 128 x 10 x 512). Measured faster than `gemm`'s own threads for these shapes (its split of them
/// left a core idle part of the time; docs/benchmarks.md). The cut is the middle, or on a pool of
/// two threads a multiple of 16 where the threads' measured speeds say both parts finish together
/// ([`crate::tensor::balance`]). Which part holds a value never changes its sums (`gemm` cuts `k`
/// by `k` alone), so the bits do not depend on the number of threads or on the cut (tested:
/// `split_cuts_change_no_bit`). Smaller products use [`parallelism`].
///
/// # Safety
/// `a`, `b` cover every element their strides reach for `m x k` and `k x n`; `c` holds `m * n`.
#[allow(clippy::too_many_arguments)]
unsafe fn native_gemm<T: Copy + Send + Sync + 'static>(
    m: usize,
    n: usize,
    k: usize,
    a: *const T,
    a_rs: isize,
    a_cs: isize,
    b: *const T,
    b_rs: isize,
    b_cs: isize,
    c: *mut T,
    zero: T,
    one: T,
) {
    // the row stride of `c` is the full `n` in both parts
    let c_rs = n as isize;
    let call = |m: usize, n: usize, a: SendPtr<T>, b: SendPtr<T>, c: SendPtr<T>, par| {
        let product = |b: *const T, b_rs: isize, b_cs: isize| {
            // SAFETY: forwarded from the caller (sub-blocks of the caller's operands)
            unsafe {
                gemm::gemm(
                    m, n, k, c.0, 1, c_rs, false, a.0, a_cs, a_rs, b, b_cs, b_rs, zero, one, false, false, false, par,
                )
            }
        };
        if column_major_pays::<T>(m, n, k, b_rs, b_cs) {
            // SAFETY: `gemm` writes every value of the `m x n` column-major scratch (`read_dst`
            // false), whose transpose then fills this part of `c` (rows `c_rs` apart); `T` has the
            // size of `u32` (`column_major_pays`)
            with_transposed(m * n, |ct| unsafe {
                let d = ct.as_mut_ptr().cast::<T>();
                gemm::gemm(
                    m, n, k, d, m as isize, 1, false, a.0, a_cs, a_rs, b.0, b_cs, b_rs, zero, one, false, false, false,
                    par,
                );
                crate::tensor::transpose::transpose32_into(ct.as_ptr(), n, m, m, c.0.cast::<u32>(), c_rs as usize)
            })
        } else if transposed_copy_pays::<T>(m, n, k, b_rs, b_cs) {
            // SAFETY: `b` reaches `k x n` values through its strides (row stride 1, so its columns
            // are rows of `k` values `b_cs` apart); `T` has the size of `u32` (checked above)
            with_transposed(k * n, |bt| unsafe {
                crate::tensor::transpose::transpose32(b.0.cast::<u32>(), n, k, b_cs as usize, bt);
                product(bt.as_ptr().cast::<T>(), n as isize, 1)
            })
        } else {
            product(b.0, b_rs, b_cs)
        }
    };
    let (ap, bp, cp) = (SendPtr(a as *mut T), SendPtr(b as *mut T), SendPtr(c));
    if m * n * k < 64 * 64 * 64 || m.max(n) < 32 {
        call(m, n, ap, bp, cp, parallelism(m, n, k));
        return;
    }
    // each part gets half of the pool's threads beyond two (none on two cores); `gemm`'s threads
    // split its work without changing any sum, so the bits depend on the shape only
    let threads = rayon::current_num_threads();
    let par = if threads > 2 { gemm::Parallelism::Rayon(threads.div_ceil(2)) } else { gemm::Parallelism::None };
    // the parts' columns (rows) of `b` and `c` (of `a` and `c`) from `from` to `to`
    let at = |p: SendPtr<T>, offset: isize| SendPtr(p.0.wrapping_offset(offset));
    if m < n {
        crate::tensor::balance::join_split(n, n / 2, 16, |from, to| {
            call(m, to - from, ap, at(bp, from as isize * b_cs), at(cp, from as isize), par)
        });
    } else {
        crate::tensor::balance::join_split(m, m / 2, 16, |from, to| {
            call(to - from, n, at(ap, from as isize * a_rs), bp, at(cp, (from * n) as isize), par)
        });
    }
}

/// True when a product `c = a W^T` reads a wide right operand transposed (`b` is `W^T` of a
/// row-major `W`: row stride 1), for 4-byte values (`f32`), with at least 32 rows and 64 columns of
/// `c` and 64 x 64 values of `W`: the linear layer's forward product (e.g. `X W1^T` of the MLP
/// 784-512-512-10, 128 x 512 x 784). `gemm` then computes `c` column-major into a scratch, which is
/// transposed into `c` ([`crate::tensor::transpose`]). Asked for a row-major `c`, `gemm` computes
/// `c^T = W a^T` and packs `W`, the large operand, into its panels at every call; asked for a
/// column-major one, it packs `a` (the batch) and reads the rows of `W` in place, and the transpose
/// moves only the `m x n` values of `c`. Each value of `c` is the same sum in the same order either
/// way (`gemm` cuts `k` into blocks that depend on `k` alone), so the bits are unchanged (tested:
/// `transposed_operand_copy_keeps_the_bits`). Measured (docs/benchmarks.md, session 32): one
/// thread's half of `X W1^T` (128 x 256 x 784) 0.93x the time of the row-major call and a half of
/// `H W2^T` (128 x 256 x 512) 0.80x (medians of 15 alternating rounds); the MLP step 0.98x (the
/// median of 1000 paired steps). A narrow `c` (a convolution's 6 or 16 channels, 10 classes) keeps
/// the row-major call, whose packed operand is then the small one.
fn column_major_pays<T>(m: usize, n: usize, k: usize, b_rs: isize, b_cs: isize) -> bool {
    std::mem::size_of::<T>() == 4 && b_rs == 1 && b_cs > 1 && m >= 32 && n >= 64 && n * k >= 64 * 64
}

/// True when a product's right operand is read transposed (`b` is `W^T` of a row-major `W`: row
/// stride 1) and a contiguous transposed copy ([`crate::tensor::transpose`]) costs less than
/// `gemm`'s packing of it: 4-byte values (`f32`), rows of `W` a multiple of 128 values (512 bytes)
/// apart, where `gemm`'s strided gather of 64-row panels falls into a few L1 cache sets (e.g.
/// `G W2^T` of the MLP 784-512-512-10: 0.31 ms with the copy against 0.33 ms; with rows 784 values
/// apart `gemm`'s own packing was faster: `X W1^T`, 0.42 against 0.50 ms), at least 32 rows of `c`
/// to reuse the copy, and a sizeable operand. The copy moves bits only and `gemm` computes the same sums from it (its
/// blocking depends on `m`, `n`, `k`), so the results are unchanged (tested:
/// `transposed_operand_copy_keeps_the_bits`).
fn transposed_copy_pays<T>(m: usize, n: usize, k: usize, b_rs: isize, b_cs: isize) -> bool {
    std::mem::size_of::<T>() == 4 && b_rs == 1 && b_cs > 1 && b_cs % 128 == 0 && m >= 32 && n * k >= 64 * 64
}

/// Runs `f` with this thread's scratch buffer for a transposed operand, of `len` values (taken out for the call and put back, as in [`with_scratch`]; a buffer above [`SCRATCH_KEEP`]
/// values is freed after the call).
fn with_transposed<R>(len: usize, f: impl FnOnce(&mut [u32]) -> R) -> R {
    let mut buf = TRANSPOSED.with(|b| b.take());
    if buf.len() < len {
        buf.resize(len.max(SCRATCH_MIN), 0);
    }
    let r = f(&mut buf[..len]);
    if buf.capacity() > SCRATCH_KEEP {
        buf = Vec::new();
    }
    raise(&HIGH_TRANSPOSED, buf.len());
    TRANSPOSED.with(|b| b.set(buf));
    r
}

/// `Real` for a native float; `$own`: its products take kinkgrad's kernel ([`crate::sgemm`], `f32`
/// only) where that is in use, else the `gemm` crate ([`native_gemm`]).
macro_rules! native_real {
    ($t:ty, $name:expr, $own:expr) => {
        impl Real for $t {
            const NAME: &'static str = $name;
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            #[inline]
            fn from_f64(v: f64) -> Self {
                v as $t
            }
            #[inline]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline]
            fn from_f32(v: f32) -> Self {
                v as $t
            }
            #[inline]
            fn to_f32(self) -> f32 {
                self as f32
            }
            #[inline]
            fn is_finite(self) -> bool {
                <$t>::is_finite(self)
            }
            #[inline]
            fn own_bits(self) -> u64 {
                u64::from(self.to_bits())
            }
            fn gemm_bias_uninit(
                m: usize,
                n: usize,
                k: usize,
                a: &[Self],
                a_rs: isize,
                a_cs: isize,
                b: &[Self],
                b_rs: isize,
                b_cs: isize,
                bias: &[Self],
                c: &mut [MaybeUninit<Self>],
            ) {
                assert!(c.len() >= m * n, "gemm: output buffer too small");
                assert!(bias.is_empty() || bias.len() == n, "gemm: bias of the wrong length");
                if m == 0 || n == 0 {
                    return;
                }
                let c = &mut c[..m * n];
                if k == 0 {
                    c.iter_mut().for_each(|v| {
                        v.write(0.0);
                    });
                } else if $own && crate::sgemm::in_use() {
                    // SAFETY: as below; `Self` is `f32` here (`$own`), and the kernel writes every
                    // value of `c` without reading any, then adds the bias
                    unsafe {
                        let f = |p: *const Self| p.cast::<f32>();
                        crate::sgemm::product(crate::sgemm::Product {
                            m,
                            n,
                            k,
                            a: f(a.as_ptr()),
                            a_rs,
                            a_cs,
                            b: f(b.as_ptr()),
                            b_rs,
                            b_cs,
                            c: c.as_mut_ptr().cast::<f32>(),
                            ldc: n,
                            bias: if bias.is_empty() { std::ptr::null() } else { f(bias.as_ptr()) },
                        });
                    }
                    return;
                } else {
                    // SAFETY: the caller passes slices covering every (row, col) reached by the
                    // strides; `Tensor::matmul` checks shapes before calling. `c` is contiguous
                    // row-major m x n; `gemm` writes every value of it without reading any (its
                    // `read_dst` is false).
                    unsafe {
                        native_gemm(
                            m,
                            n,
                            k,
                            a.as_ptr(),
                            a_rs,
                            a_cs,
                            b.as_ptr(),
                            b_rs,
                            b_cs,
                            c.as_mut_ptr().cast::<$t>(),
                            0.0,
                            1.0,
                        )
                    }
                }
                // SAFETY: every value of `c` was written above
                let c = unsafe { &mut *(c as *mut [MaybeUninit<$t>] as *mut [$t]) };
                add_rows(c, bias);
            }
        }
    };
}
native_real!(f64, "f64", false);
native_real!(f32, "f32", true);

macro_rules! half_real {
    ($t:ty, $name:expr, $from32:expr, $to32:expr) => {
        impl Real for $t {
            const NAME: &'static str = $name;
            const ZERO: Self = <$t>::ZERO;
            const ONE: Self = <$t>::ONE;
            #[inline]
            fn from_f64(v: f64) -> Self {
                // not the `half` crate's `from_f64`, which is not correctly rounded (round16.rs)
                $from32(to_f32_odd(v))
            }
            #[inline]
            fn to_f64(self) -> f64 {
                f64::from($to32(self))
            }
            #[inline]
            fn from_f32(v: f32) -> Self {
                $from32(v)
            }
            #[inline]
            fn to_f32(self) -> f32 {
                $to32(self)
            }
            #[inline]
            fn is_finite(self) -> bool {
                <$t>::is_finite(self)
            }
            #[inline]
            fn own_bits(self) -> u64 {
                u64::from(self.to_bits())
            }
            fn gemm_bias_uninit(
                m: usize,
                n: usize,
                k: usize,
                a: &[Self],
                a_rs: isize,
                a_cs: isize,
                b: &[Self],
                b_rs: isize,
                b_cs: isize,
                bias: &[Self],
                c: &mut [MaybeUninit<Self>],
            ) {
                half_gemm(m, n, k, a, a_rs, a_cs, b, b_rs, b_cs, bias, false, c)
            }
            fn gemm_row_bias_uninit(
                m: usize,
                n: usize,
                k: usize,
                a: &[Self],
                a_rs: isize,
                a_cs: isize,
                b: &[Self],
                b_rs: isize,
                b_cs: isize,
                bias: &[Self],
                c: &mut [MaybeUninit<Self>],
            ) {
                assert!(bias.is_empty() || bias.len() == m, "gemm: row bias of the wrong length");
                half_gemm(m, n, k, a, a_rs, a_cs, b, b_rs, b_cs, bias, true, c)
            }
        }
    };
}
/// A 16-bit product accumulated in `f32`: both operands widened once (a contiguous operand keeps its
/// strides; a strided one is gathered), one `f32` product, the bias added in `f32` (along the columns,
/// or along the rows when `row_bias`), one rounding of each result; the conversions are the inline
/// ones of `round16.rs` in vectorised loops. The four `f32` buffers are this thread's scratch,
/// reused across calls.
#[allow(clippy::too_many_arguments)]
fn half_gemm<E: Real>(
    m: usize,
    n: usize,
    k: usize,
    a: &[E],
    a_rs: isize,
    a_cs: isize,
    b: &[E],
    b_rs: isize,
    b_cs: isize,
    bias: &[E],
    row_bias: bool,
    c: &mut [MaybeUninit<E>],
) {
    with_scratch(|[a32, b32, bias32, c32]| {
        let (a32, a_rs, a_cs) = widen(a, m, k, a_rs, a_cs, a32);
        let (b32, b_rs, b_cs) = widen(b, k, n, b_rs, b_cs, b32);
        let (bias32, _, _) = widen(bias, 1, bias.len(), 1, 1, bias32);
        let c32 = grown(c32, m * n);
        if row_bias {
            let c32 = &mut *c32;
            // SAFETY: `MaybeUninit<f32>` has the layout of `f32`; every value is written
            let c32u = unsafe { &mut *(c32 as *mut [f32] as *mut [MaybeUninit<f32>]) };
            f32::gemm_row_bias_uninit(m, n, k, a32, a_rs, a_cs, b32, b_rs, b_cs, bias32, c32u);
        } else {
            f32::gemm_bias(m, n, k, a32, a_rs, a_cs, b32, b_rs, b_cs, bias32, c32);
        }
        convert(c32, &mut c[..m * n], |c, x| {
            c.write(E::from_f32(x));
        });
    })
}

/// `f(&mut out[i], x[i])` for every `i` (`out` as long as `x`), through
/// [`write_chunks`](crate::tensor::elementwise::write_chunks): on rayon's threads from `PAR_MIN`
/// values on. Each value is converted on its own, so the results do not depend on the threads. The
/// widening and rounding around a 16-bit product ([`half_gemm`]) ran on one thread while the other
/// waited (LeNet's first convolution widens 25 x 36 864 values and rounds 6 x 36 864 per step).
fn convert<S: Copy + Sync, D: Send>(x: &[S], out: &mut [D], f: impl Fn(&mut D, S) + Sync) {
    use crate::tensor::elementwise::{write_chunks, PAR_MIN};
    write_chunks(out, PAR_MIN / 8, |o, at| {
        for (o, &v) in o.iter_mut().zip(&x[at..]) {
            f(o, v);
        }
    });
}

/// Runs `f` with this thread's four scratch buffers of `f32` (taken out for the call and put back,
/// so a nested call on the same thread, e.g. a rayon task run while this one waits, gets fresh ones
/// instead of a conflict). They keep the size of the largest product a thread has run, up to
/// [`SCRATCH_KEEP`] values each (a larger one is freed after its call): a training step's 16-bit
/// products allocate and zero nothing once the first step has grown them.
fn with_scratch<R>(f: impl FnOnce(&mut [Vec<f32>; 4]) -> R) -> R {
    let mut bufs = SCRATCH.with(|s| s.take());
    let r = f(&mut bufs);
    for (b, high) in bufs.iter_mut().zip(&HIGH_SCRATCH) {
        if b.capacity() > SCRATCH_KEEP {
            *b = Vec::new();
        }
        raise(high, b.len());
    }
    SCRATCH.with(|s| s.set(bufs));
    r
}

thread_local! {
    /// This thread's scratch for a transposed operand ([`with_transposed`]).
    static TRANSPOSED: std::cell::Cell<Vec<u32>> = const { std::cell::Cell::new(Vec::new()) };
    /// This thread's four scratch buffers of the 16-bit products ([`with_scratch`]).
    static SCRATCH: std::cell::Cell<[Vec<f32>; 4]> = std::cell::Cell::new(Default::default());
}

/// The longest scratch of each kind any thread keeps (its high-water mark).
static HIGH_TRANSPOSED: AtomicUsize = AtomicUsize::new(0);
static HIGH_SCRATCH: [AtomicUsize; 4] = [const { AtomicUsize::new(0) }; 4];

/// Raises a high-water mark to `len`, writing the shared value only when it grows (a product's
/// steady call only reads it, so the threads do not pass its cache line back and forth).
fn raise(high: &AtomicUsize, len: usize) {
    if len > high.load(Ordering::Relaxed) {
        high.fetch_max(len, Ordering::Relaxed);
    }
}

/// Grows this thread's product buffers (the scratches above, [`crate::sgemm`]'s packing buffers and
/// `gemm`'s, `vendor/gemm-common`) to the largest any thread keeps. A pool thread calls it when it
/// joins a training step ([`crate::nn::on_pool`]): which thread runs which half of a split product
/// is decided by work stealing and varies from step to step, so without it a thread would grow a
/// buffer whenever it first met a product (or half) another thread had met before, in any step; with
/// it, a size first needed in one step reaches every thread at the start of the next (tested:
/// `tests/process.rs`). Allocates only what grows.
pub(crate) fn sync_thread_buffers() {
    let want = HIGH_TRANSPOSED.load(Ordering::Relaxed);
    TRANSPOSED.with(|b| {
        let mut buf = b.take();
        if buf.len() < want {
            buf.resize(want, 0);
        }
        b.set(buf);
    });
    SCRATCH.with(|s| {
        let mut bufs = s.take();
        for (b, high) in bufs.iter_mut().zip(&HIGH_SCRATCH) {
            let want = high.load(Ordering::Relaxed);
            if b.len() < want {
                b.resize(want, 0.0);
            }
        }
        s.set(bufs);
    });
    crate::sgemm::sync_thread_buffers();
    gemm_common::gemm::sync_thread_buffers();
}

/// The largest scratch buffer a thread keeps between products: 4 Mi values (16 MiB).
const SCRATCH_KEEP: usize = 1 << 22;

/// The least length (values) a thread's scratch buffer grows to: a training step's products then
/// fit the buffer its thread grew for the first of them. Which thread runs which half of a split
/// product varies from step to step, so a buffer sized to the product at hand would grow again
/// whenever a thread first met a larger one, in any step.
const SCRATCH_MIN: usize = 1 << 18;

/// The first `len` elements of `buf`, grown (with zeros) when shorter; the contents are stale and
/// are overwritten by the caller.
fn grown(buf: &mut Vec<f32>, len: usize) -> &mut [f32] {
    if buf.len() < len {
        buf.resize(len.max(SCRATCH_MIN), 0.0);
    }
    &mut buf[..len]
}

/// The `rows x cols` operand read through strides `(rs, cs)`, widened to `f32` into `buf`, with the
/// strides to read the widened copy: a contiguous block (row- or column-major) is converted in
/// vectorised loops ([`convert`]) and keeps its layout; anything else is gathered.
fn widen<'b, E: Real>(
    x: &[E],
    rows: usize,
    cols: usize,
    rs: isize,
    cs: isize,
    buf: &'b mut Vec<f32>,
) -> (&'b [f32], isize, isize) {
    let len = rows * cols;
    let out = grown(buf, len);
    let row_major = cs == 1 && (rs == cols as isize || rows == 1);
    let col_major = rs == 1 && (cs == rows as isize || cols == 1);
    if (row_major || col_major) && x.len() >= len {
        convert(&x[..len], out, |o, e| *o = e.to_f32());
        return (out, rs, cs);
    }
    crate::simd::wide(|| {
        for i in 0..rows {
            for p in 0..cols {
                out[i * cols + p] = x[(i as isize * rs + p as isize * cs) as usize].to_f32();
            }
        }
    });
    (out, cols as isize, 1)
}

half_real!(f16, "f16", f16_from_f32, f16_to_f32);
half_real!(bf16, "bf16", bf16::from_f32, bf16::to_f32);

/// The precisions offered by the CLI and the applications.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Precision {
    /// IEEE double.
    F64,
    /// IEEE single.
    F32,
    /// IEEE half (10-bit mantissa).
    F16,
    /// bfloat16 (7-bit mantissa, f32 exponent range).
    BF16,
}

impl std::str::FromStr for Precision {
    type Err = crate::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "f64" => Ok(Self::F64),
            "f32" => Ok(Self::F32),
            "f16" => Ok(Self::F16),
            "bf16" => Ok(Self::BF16),
            _ => Err(crate::Error::invalid(
                "precision",
                format!("unknown precision '{s}', expected f64, f32, f16 or bf16"),
            )),
        }
    }
}

impl std::fmt::Display for Precision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::F64 => "f64",
            Self::F32 => "f32",
            Self::F16 => "f16",
            Self::BF16 => "bf16",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `gemm_row_bias_uninit` gives, value for value, the bits of the transposed product with the bias
    /// along its columns (`gemm_bias`), in every type; in 16 bits that is one rounding of the `f32`
    /// sum plus the bias, which the second check computes from the widened operands.
    #[test]
    fn row_bias_is_the_transposed_column_bias() {
        fn check<T: Real>() {
            let (m, n, k) = (7, 40, 25);
            let val = |i: usize, s: f64| T::from_f64(((i as f64 + 1.0) * s).sin());
            let a: Vec<T> = (0..m * k).map(|i| val(i, 0.37)).collect();
            let b: Vec<T> = (0..k * n).map(|i| val(i, 0.71)).collect();
            let bias: Vec<T> = (0..m).map(|i| val(i, 1.9)).collect();
            let mut c = vec![MaybeUninit::<T>::uninit(); m * n];
            T::gemm_row_bias_uninit(m, n, k, &a, k as isize, 1, &b, n as isize, 1, &bias, &mut c);
            // SAFETY: every value was written
            let c: Vec<T> = c.into_iter().map(|v| unsafe { v.assume_init() }).collect();
            // c^T = b^T a^T + bias along the columns, reading the same buffers through strides
            let mut ct = vec![T::ZERO; m * n];
            T::gemm_bias(n, m, k, &b, 1, n as isize, &a, 1, k as isize, &bias, &mut ct);
            for i in 0..m {
                for j in 0..n {
                    assert_eq!(
                        c[i * n + j].to_f64().to_bits(),
                        ct[j * m + i].to_f64().to_bits(),
                        "{} ({i}, {j})",
                        T::NAME
                    );
                }
            }
            if std::mem::size_of::<T>() == 2 {
                let a32: Vec<f32> = a.iter().map(|v| v.to_f32()).collect();
                let b32: Vec<f32> = b.iter().map(|v| v.to_f32()).collect();
                let mut p = vec![0f32; m * n];
                f32::gemm(m, n, k, &a32, k as isize, 1, &b32, n as isize, 1, &mut p);
                for i in 0..m {
                    for j in 0..n {
                        let want = T::from_f32(p[i * n + j] + bias[i].to_f32());
                        assert_eq!(c[i * n + j].to_f64().to_bits(), want.to_f64().to_bits(), "{} ({i}, {j})", T::NAME);
                    }
                }
            }
        }
        check::<f32>();
        check::<f64>();
        check::<f16>();
        check::<bf16>();
    }

    /// Where the two-thread split cuts a product ([`crate::tensor::balance`], steered by measured
    /// speeds) changes no bit: products cut at 0.3, 0.5 and 0.7 of their split side on a pool of two
    /// threads equal the product on one thread, bit for bit, in `f32` and `f64`: split by columns
    /// (40 x 300), by rows (300 x 40), and `a W^T` by columns through the column-major product (parts
    /// of 96 and 204 columns at 0.3, both at least 64: `column_major_pays`). `f64` products always
    /// take `gemm` ([`native_gemm`]); `f32` ones take it where kinkgrad's kernel is not in use (whose
    /// own test, `thread_counts_give_the_reference_bits`, forces the cuts too).
    #[test]
    fn split_cuts_change_no_bit() {
        fn check<T: Real>() {
            let pool = |t| rayon::ThreadPoolBuilder::new().num_threads(t).build().unwrap();
            let (one, two) = (pool(1), pool(2));
            for &(m, n, k, wt) in &[(40, 300, 100, false), (300, 40, 100, false), (40, 300, 128, true)] {
                let val = |i: usize, s: f64| T::from_f64(((i as f64 + 1.0) * s).sin());
                let a: Vec<T> = (0..m * k).map(|i| val(i, 0.37)).collect();
                let b: Vec<T> = (0..k * n).map(|i| val(i, 0.71)).collect();
                // `wt`: `b` holds `W` ([n, k]) and the product reads `W^T`
                let (b_rs, b_cs) = if wt { (1, k as isize) } else { (n as isize, 1) };
                let run = |pool: &rayon::ThreadPool, share: Option<f64>| {
                    let mut c = vec![T::ZERO; m * n];
                    pool.install(|| {
                        if let Some(f) = share {
                            crate::tensor::balance::force_fraction(f);
                        }
                        T::gemm(m, n, k, &a, k as isize, 1, &b, b_rs, b_cs, &mut c)
                    });
                    c
                };
                let want = run(&one, None);
                for f in [0.3, 0.5, 0.7] {
                    let got = run(&two, Some(f));
                    let same = got.iter().zip(&want).all(|(x, y)| x.own_bits() == y.own_bits());
                    assert!(same, "{} {m}x{n}x{k} W^T {wt}, cut at {f}", T::NAME);
                }
            }
        }
        check::<f32>();
        check::<f64>();
    }
}
