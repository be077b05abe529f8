//! Buffer reuse across the steps of a loop (a training step): a [`Workspace`] keeps the buffers
//! freed during one step and serves the same requests of the next step from them.
//!
//! The owner of a loop (e.g. [`crate::nn::Trainer`]) owns a [`Workspace`] and [`Workspace::enter`]s
//! it around each step: while the returned [`Scope`] lives, the workspace is **installed on the
//! current thread**, and
//! - [`take`] serves `Vec::with_capacity(n)` requests from it (an empty vector whose capacity is
//!   exactly `n`: nothing stale is readable, kernels write every element as before);
//! - a tensor's storage (data and shape) returns to it when its last handle drops on this thread
//!   (and [`crate::Tensor::from_parts`] reuses the storage's reference-counted header);
//! - [`give`] returns a scratch buffer (im2col columns, index or piece-code buffers).
//!
//! Without an installed workspace (every other caller, rayon's worker threads) [`take`] allocates
//! and [`give`] frees: where memory comes from never changes a value. The workspace is owned and
//! passed explicitly; the thread-local slot only lends it for the scope's duration (one per thread,
//! so nothing is shared between threads).
//!
//! Bounded: when a scope ends, each buffer size keeps at most as many free buffers as were requested
//! in this scope or the one before (so one odd step, such as the last short batch of an epoch, does
//! not flush the pool), and the rest is freed.

use std::alloc::Layout;
use std::any::{Any, TypeId};
use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::ptr::NonNull;
use std::sync::Arc;

/// The pool's maps: keys are capacities, layouts and type ids, looked up several times per op of a
/// training step on the step's thread, so they hash with [`KeyHasher`] (a multiply per word) rather
/// than the standard library's SipHash, which is built to resist chosen keys (none come from input
/// here) and took about 0.6% of the MLP 784-512-512-10 step (docs/benchmarks.md, session 32).
type Map<K, V> = HashMap<K, V, BuildHasherDefault<KeyHasher>>;

/// The hasher of [`Map`]: each word rotated into the state and multiplied by an odd constant, the
/// result rotated so that its well-mixed high bits become the low bits the map indexes its buckets
/// with (the scheme of rustc's `FxHasher`, version 2: without the final rotation, keys that are
/// multiples of a power of two, such as buffer capacities, share their low bits and pile into the
/// same buckets). Deterministic, so a map's layout depends only on its keys.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0.rotate_left(26)
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_usize(&mut self, v: usize) {
        self.write_u64(v as u64);
    }
}

/// Free buffers of one capacity, with the requests seen in this scope and the one before.
struct Bucket<T> {
    bufs: Vec<T>,
    wanted_now: usize,
    wanted_prev: usize,
}

impl<T> Bucket<T> {
    fn new() -> Self {
        Self { bufs: Vec::new(), wanted_now: 0, wanted_prev: 0 }
    }
}

/// Free buffers of one element type by exact capacity, and empty storage headers for tensors.
struct Typed<T> {
    free: Map<usize, Bucket<Vec<T>>>,
    headers: Vec<Arc<Vec<T>>>,
    headers_now: usize,
    headers_prev: usize,
}

/// A [`Typed`] pool behind its element type.
trait Pool: Send + Sync {
    fn as_any(&mut self) -> &mut dyn Any;
    /// End of a scope: keep what the last two scopes asked for, free the rest.
    fn trim(&mut self);
}

impl<T: Send + Sync + 'static> Pool for Typed<T> {
    fn as_any(&mut self) -> &mut dyn Any {
        self
    }
    fn trim(&mut self) {
        self.free.retain(|_, b| {
            let keep = b.wanted_now.max(b.wanted_prev);
            b.bufs.truncate(keep);
            (b.wanted_prev, b.wanted_now) = (b.wanted_now, 0);
            keep > 0
        });
        self.headers.truncate(self.headers_now.max(self.headers_prev));
        (self.headers_prev, self.headers_now) = (self.headers_now, 0);
    }
}

/// The pools of every element type used so far, and untyped memory blocks by layout.
#[derive(Default)]
struct Inner {
    pools: Map<TypeId, Box<dyn Pool>>,
    /// Blocks by exact layout (size, align): the storage of ops ([`crate::reverse`]) and of empty
    /// lists of element types the typed pools cannot hold (not `Send`, or borrowing).
    blocks: Map<(usize, usize), Bucket<Block>>,
    /// Growable lists by element layout (size, align), any capacity (a tape's node list).
    lists: Map<(usize, usize), Bucket<Block>>,
    /// Shared names ([`intern`]), each with the number of scope ends since it was last asked for.
    names: Vec<(Arc<str>, u8)>,
}

/// An allocation of the global allocator with its layout (non-zero size), holding no value: freed
/// when dropped.
struct Block {
    ptr: NonNull<u8>,
    layout: Layout,
}

// SAFETY: a `Block` owns raw memory and no value of any type (whatever lived there was dropped
// before it was given back), so moving or sharing it between threads touches nothing thread-bound.
unsafe impl Send for Block {}
// SAFETY: as above; `&Block` exposes nothing.
unsafe impl Sync for Block {}

impl Drop for Block {
    fn drop(&mut self) {
        // SAFETY: `ptr` was allocated by the global allocator with exactly `layout` (see the
        // constructors of `Block`), and is freed once, here.
        unsafe { std::alloc::dealloc(self.ptr.as_ptr(), self.layout) }
    }
}

/// End of a scope for blocks: keep what the last two scopes asked for.
fn trim_blocks(map: &mut Map<(usize, usize), Bucket<Block>>) {
    map.retain(|_, b| {
        let keep = b.wanted_now.max(b.wanted_prev);
        b.bufs.truncate(keep);
        (b.wanted_prev, b.wanted_now) = (b.wanted_now, 0);
        keep > 0
    });
}

impl Inner {
    fn typed<T: Send + Sync + 'static>(&mut self) -> &mut Typed<T> {
        let p = self.pools.entry(TypeId::of::<T>()).or_insert_with(|| {
            Box::new(Typed::<T> { free: Map::default(), headers: Vec::new(), headers_now: 0, headers_prev: 0 })
        });
        match p.as_any().downcast_mut::<Typed<T>>() {
            Some(t) => t,
            None => unreachable!("the pool under TypeId::of::<T>() holds T"),
        }
    }
}

thread_local! {
    static CURRENT: RefCell<Option<Box<Inner>>> = const { RefCell::new(None) };
}

/// Run `f` on the workspace installed on this thread, if any (and not already in use: a request
/// made while the pool itself is busy simply allocates).
fn with_current<R>(f: impl FnOnce(&mut Inner) -> R) -> Option<R> {
    CURRENT.try_with(|c| c.try_borrow_mut().ok().and_then(|mut c| c.as_deref_mut().map(f))).ok().flatten()
}

/// Buffers kept from one step of a loop for the next (see the module documentation).
#[derive(Default)]
pub struct Workspace {
    inner: Option<Box<Inner>>,
}

impl std::fmt::Debug for Workspace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Workspace")
    }
}

/// A [`Workspace`] installed on the current thread; dropping it gives the workspace back (trimmed)
/// and reinstalls whatever was installed before.
pub struct Scope<'a> {
    ws: &'a mut Workspace,
    outer: Option<Box<Inner>>,
}

impl Workspace {
    /// A workspace holding nothing yet.
    pub fn new() -> Self {
        Self::default()
    }
    /// Install this workspace on the current thread until the returned scope drops.
    pub fn enter(&mut self) -> Scope<'_> {
        let inner = self.inner.take().unwrap_or_default();
        let outer = CURRENT.with(|c| c.replace(Some(inner)));
        Scope { ws: self, outer }
    }
}

impl Drop for Scope<'_> {
    fn drop(&mut self) {
        let inner = CURRENT.with(|c| c.replace(self.outer.take()));
        if let Some(mut inner) = inner {
            for p in inner.pools.values_mut() {
                p.trim();
            }
            trim_blocks(&mut inner.blocks);
            trim_blocks(&mut inner.lists);
            inner.names.retain_mut(|(_, age)| {
                *age += 1;
                *age < 2
            });
            self.ws.inner = Some(inner);
        }
    }
}

/// An empty vector with capacity exactly `n`: a free buffer of that capacity from the workspace
/// installed on this thread, else a new allocation.
pub fn take<T: Send + Sync + 'static>(n: usize) -> Vec<T> {
    if n == 0 {
        return Vec::new();
    }
    let hit = with_current(|w| {
        let b = w.typed::<T>().free.entry(n).or_insert_with(Bucket::new);
        b.wanted_now += 1;
        b.bufs.pop()
    });
    hit.flatten().unwrap_or_else(|| Vec::with_capacity(n))
}

/// An empty vector for at most `n` values whose capacity is `bound` (or `n` when larger): [`take`] of
/// a size that does not vary from step to step, for lists whose length does (a step's ties, the
/// distinct elements they read), with `bound` what they are drawn from (e.g. the elements of an
/// op's output). Every step then reuses the same pooled buffer; a size rounded from the length
/// would miss the pool whenever a step's count first exceeded the earlier steps' (and, with batches
/// that differ, at any step). Only the values written are touched, so a large bound reserves
/// address space, not memory in use.
pub fn take_bounded<T: Send + Sync + 'static>(n: usize, bound: usize) -> Vec<T> {
    take(bound.max(n))
}

/// `n` copies of `v` in a buffer from [`take`] (the pool's `vec![v; n]`).
pub fn filled<T: Copy + Send + Sync + 'static>(n: usize, v: T) -> Vec<T> {
    let mut out = take(n);
    out.resize(n, v);
    out
}

/// A copy of `s` in a buffer from [`take`] (the pool's `s.to_vec()`).
pub fn copied<T: Copy + Send + Sync + 'static>(s: &[T]) -> Vec<T> {
    let mut out = take(s.len());
    out.extend_from_slice(s);
    out
}

/// Return a buffer to the workspace installed on this thread (emptied; its capacity is kept) when
/// [`take`] has asked for that capacity there; else free it.
pub fn give<T: Send + Sync + 'static>(mut v: Vec<T>) {
    if v.capacity() == 0 {
        return;
    }
    v.clear();
    // without a workspace the closure (and `v` with it) is dropped unrun: freed
    with_current(move |w| {
        // kept only where `take` asked for this capacity (in this scope or the one before): a size
        // nobody requests is freed rather than hoarded
        if let Some(b) = w.typed::<T>().free.get_mut(&v.capacity()) {
            b.bufs.push(v);
        }
    });
}

/// Memory for one value of `layout` (non-zero size): a free block of exactly that layout from the
/// workspace installed on this thread, else a new allocation. Give it back with [`give_block`] (or
/// free it with the global allocator and the same layout).
pub(crate) fn take_block(layout: Layout) -> NonNull<u8> {
    debug_assert!(layout.size() > 0);
    let hit = with_current(|w| {
        let b = w.blocks.entry((layout.size(), layout.align())).or_insert_with(Bucket::new);
        b.wanted_now += 1;
        b.bufs.pop()
    });
    match hit.flatten() {
        Some(b) => {
            let ptr = b.ptr;
            std::mem::forget(b);
            ptr
        }
        None => {
            // SAFETY: `layout` has a non-zero size (checked by the callers).
            let p = unsafe { std::alloc::alloc(layout) };
            NonNull::new(p).unwrap_or_else(|| std::alloc::handle_alloc_error(layout))
        }
    }
}

/// Return memory from [`take_block`] (whatever value lived there already dropped): kept by the
/// installed workspace when [`take_block`] asked for its layout there, else freed.
///
/// # Safety
/// `ptr` was allocated by the global allocator with exactly `layout` (non-zero size), holds no live
/// value, and is not used after this call.
pub(crate) unsafe fn give_block(ptr: NonNull<u8>, layout: Layout) {
    let block = Block { ptr, layout };
    // without a workspace (or without demand for this layout) the block is dropped: freed
    with_current(move |w| {
        if let Some(b) = w.blocks.get_mut(&(layout.size(), layout.align())) {
            b.bufs.push(block);
        }
    });
}

/// An empty list for elements of any type (not `Send`, or borrowing: a tape's nodes, a backward
/// pass's cotangents) with the capacity a list of the same element layout last gave back to the
/// workspace installed on this thread ([`give_list`]), else a new empty vector. It grows as usual.
pub(crate) fn take_list<X>() -> Vec<X> {
    let (size, align) = (std::mem::size_of::<X>(), std::mem::align_of::<X>());
    if size == 0 {
        return Vec::new();
    }
    let hit = with_current(|w| {
        let b = w.lists.entry((size, align)).or_insert_with(Bucket::new);
        b.wanted_now += 1;
        b.bufs.pop()
    });
    match hit.flatten() {
        Some(b) => {
            let (ptr, cap) = (b.ptr, b.layout.size() / size);
            std::mem::forget(b);
            // SAFETY: the block was allocated by the global allocator as the buffer of a vector of
            // elements of this size and alignment with capacity `cap` (`give_list`), i.e. with the
            // layout of `[X; cap]`; it holds no value (length 0).
            unsafe { Vec::from_raw_parts(ptr.cast::<X>().as_ptr(), 0, cap) }
        }
        None => Vec::new(),
    }
}

/// Return a list from [`take_list`] (or any vector): its elements are dropped, its buffer is kept by
/// the installed workspace for the next [`take_list`] of the same element layout, else freed.
pub(crate) fn give_list<X>(mut v: Vec<X>) {
    // drop the elements first, outside the pool (their drops may return buffers to it)
    v.clear();
    let (size, align) = (std::mem::size_of::<X>(), std::mem::align_of::<X>());
    if size == 0 || v.capacity() == 0 {
        return;
    }
    let mut v = std::mem::ManuallyDrop::new(v);
    let (ptr, cap) = (v.as_mut_ptr(), v.capacity());
    let Ok(layout) = Layout::array::<X>(cap) else { unreachable!("a vector's capacity fits its layout") };
    // SAFETY: a vector's non-null buffer of non-zero size, allocated by the global allocator with
    // the layout of `[X; cap]`; it is empty and not used again (ManuallyDrop).
    let block = Block { ptr: unsafe { NonNull::new_unchecked(ptr.cast::<u8>()) }, layout };
    with_current(move |w| {
        if let Some(b) = w.lists.get_mut(&(size, align)) {
            b.bufs.push(block);
        }
    });
}

/// An empty vector with capacity exactly `n` for elements of any type (not `Send`, or borrowing: a
/// backward pass's cotangents, a VJP's result): a free block of exactly that layout from the
/// installed workspace ([`take_block`]), else a new allocation. Give it back with [`give_any`].
pub(crate) fn take_any<X>(n: usize) -> Vec<X> {
    let Ok(layout) = Layout::array::<X>(n) else { return Vec::with_capacity(n) };
    if layout.size() == 0 {
        return Vec::with_capacity(n);
    }
    let p = take_block(layout);
    // SAFETY: `p` is a block of the global allocator of exactly the layout of `[X; n]`, holding no
    // value (length 0).
    unsafe { Vec::from_raw_parts(p.cast::<X>().as_ptr(), 0, n) }
}

/// Return a vector (any element type): its elements are dropped, its buffer is kept by the
/// installed workspace for a [`take_any`] (or [`take_block`]) of exactly its layout, else freed.
pub(crate) fn give_any<X>(mut v: Vec<X>) {
    v.clear();
    if std::mem::size_of::<X>() == 0 || v.capacity() == 0 {
        return;
    }
    let mut v = std::mem::ManuallyDrop::new(v);
    let Ok(layout) = Layout::array::<X>(v.capacity()) else { unreachable!("a vector's capacity fits its layout") };
    // SAFETY: a vector's buffer of non-zero size, allocated by the global allocator with the layout
    // of `[X; capacity]`; it is empty and not used again (ManuallyDrop).
    unsafe { give_block(NonNull::new_unchecked(v.as_mut_ptr().cast::<u8>()), layout) }
}

/// A shared copy of the name `s` (a tape's scope, a certificate's representation): the one the installed workspace handed out in
/// this scope or the one before, else a new one.
pub(crate) fn intern(s: &str) -> Arc<str> {
    let hit = with_current(|w| {
        let (name, age) = w.names.iter_mut().find(|(n, _)| &**n == s)?;
        *age = 0;
        Some(name.clone())
    });
    match hit.flatten() {
        Some(name) => name,
        None => {
            let name: Arc<str> = Arc::from(s);
            with_current(|w| w.names.push((name.clone(), 0)));
            name
        }
    }
}

/// Return a tensor's storage: its buffer and, when this was its last handle, the header.
pub(crate) fn give_storage<T: Send + Sync + 'static>(mut data: Arc<Vec<T>>) {
    let Some(v) = Arc::get_mut(&mut data) else { return };
    let buf = std::mem::take(v);
    give(buf);
    with_current(move |w| w.typed::<T>().headers.push(data));
}

/// A storage header holding `v`: a free one from the workspace, else a new one.
pub(crate) fn storage<T: Send + Sync + 'static>(v: Vec<T>) -> Arc<Vec<T>> {
    let header = with_current(|w| {
        let t = w.typed::<T>();
        t.headers_now += 1;
        t.headers.pop()
    });
    match header.flatten() {
        Some(mut h) => match Arc::get_mut(&mut h) {
            Some(slot) => {
                *slot = v;
                h
            }
            None => Arc::new(v),
        },
        None => Arc::new(v),
    }
}

/// A read-only vector shared between ops (e.g. a pooling's selection, read by its VJP op), whose
/// buffer and reference-counted header return to the workspace when its last handle drops ([`storage`],
/// [`give_storage`]), like a tensor's storage.
pub struct SharedBuf<T: Send + Sync + 'static>(std::mem::ManuallyDrop<Arc<Vec<T>>>);

impl<T: Send + Sync + 'static> SharedBuf<T> {
    /// Shares `b`, in a header from the workspace when it has one.
    pub fn new(b: Buf<T>) -> Self {
        Self(std::mem::ManuallyDrop::new(storage(b.into_vec())))
    }
}

impl<T: Send + Sync + 'static> Clone for SharedBuf<T> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<T: Send + Sync + 'static> std::ops::Deref for SharedBuf<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.0
    }
}

impl<T: Send + Sync + 'static> Drop for SharedBuf<T> {
    fn drop(&mut self) {
        // SAFETY: the handle is taken once, here, and not used afterwards.
        give_storage(unsafe { std::mem::ManuallyDrop::take(&mut self.0) });
    }
}

/// A vector that returns to the workspace installed on the dropping thread ([`give`]) when it drops:
/// for the buffers an op keeps until its tape drops (shapes, selections, tie lists).
#[derive(Debug, Default, PartialEq)]
pub struct Buf<T: Send + Sync + 'static>(Vec<T>);

impl<T: Send + Sync + 'static> Buf<T> {
    /// An empty buffer of capacity exactly `n` ([`take`]).
    pub fn with_capacity(n: usize) -> Self {
        Self(take(n))
    }
}

impl<T: Send + Sync + 'static> Buf<T> {
    /// The vector, no longer returned to the pool when dropped (e.g. a shape handed to a tensor,
    /// whose storage returns by itself).
    pub fn into_vec(mut self) -> Vec<T> {
        std::mem::take(&mut self.0)
    }
}

impl<T: Copy + Send + Sync + 'static> Buf<T> {
    /// `n` copies of `v` ([`filled`]).
    pub fn filled(n: usize, v: T) -> Self {
        Self(filled(n, v))
    }
    /// A copy of `s` ([`copied`]).
    pub fn copied(s: &[T]) -> Self {
        Self(copied(s))
    }
    /// A copy of `s` in a buffer of capacity `cap` (at least `s.len()`), so that copies of
    /// lists whose length varies from step to step share one pooled size.
    pub fn copied_with_capacity(s: &[T], cap: usize) -> Self {
        let mut v = take(cap.max(s.len()));
        v.extend_from_slice(s);
        Self(v)
    }
}

impl<T: Copy + Send + Sync + 'static> Clone for Buf<T> {
    fn clone(&self) -> Self {
        Self::copied_with_capacity(&self.0, self.0.capacity())
    }
}

impl<T: Send + Sync + 'static> From<Vec<T>> for Buf<T> {
    fn from(v: Vec<T>) -> Self {
        Self(v)
    }
}

impl<T: Send + Sync + 'static> std::ops::Deref for Buf<T> {
    type Target = Vec<T>;
    fn deref(&self) -> &Vec<T> {
        &self.0
    }
}

impl<T: Send + Sync + 'static> std::ops::DerefMut for Buf<T> {
    fn deref_mut(&mut self) -> &mut Vec<T> {
        &mut self.0
    }
}

impl<T: Send + Sync + 'static> Drop for Buf<T> {
    fn drop(&mut self) {
        give(std::mem::take(&mut self.0));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Tensor;

    /// Free buffers of capacity `n` in the installed workspace.
    fn kept(n: usize) -> usize {
        with_current(|w| w.typed::<f32>().free.get(&n).map_or(0, |b| b.bufs.len())).unwrap_or(0)
    }

    /// Inside a scope a freed buffer (or a dropped tensor's storage) serves the next request of its
    /// capacity: the same memory, empty, of exactly that capacity; the workspace keeps it across
    /// scopes; a scope keeps at most what the last two scopes asked for; nothing without a scope.
    #[test]
    fn a_workspace_serves_what_its_scopes_freed() {
        let mut ws = Workspace::new();
        let first = {
            let _s = ws.enter();
            let v: Vec<f32> = take(100);
            let at = v.as_ptr();
            give(v);
            let w: Vec<f32> = take(100);
            assert_eq!((w.as_ptr(), w.capacity(), w.len()), (at, 100, 0));
            // a tensor's storage comes back when its last handle drops
            let mut w = w;
            w.resize(100, 1.5);
            let t = Tensor::from_parts(vec![10, 10], w);
            let t2 = t.clone();
            drop(t);
            assert_eq!(kept(100), 0, "still held by the clone");
            drop(t2);
            assert_eq!(kept(100), 1);
            at
        };
        {
            let _s = ws.enter();
            let v: Vec<f32> = take(100);
            assert_eq!(v.as_ptr(), first, "kept across scopes");
            // three more buffers given back than this scope asked for (1): at its end, trimmed to the
            // larger demand of the last two scopes (2 in the first, 1 here)
            let extra: Vec<Vec<f32>> = (0..3).map(|_| Vec::with_capacity(100)).collect();
            give(v);
            extra.into_iter().for_each(give);
            assert_eq!(kept(100), 4);
        }
        // the next scopes find 2, then 1 (the second scope's demand), then none (two scopes without one)
        for want in [2, 1, 0] {
            let _s = ws.enter();
            assert_eq!(kept(100), want);
        }
        {
            let _s = ws.enter();
            // a capacity nobody asked for is freed, not kept
            give(Vec::<f32>::with_capacity(37));
            assert_eq!(kept(37), 0);
        }
        assert_eq!(kept(100), 0, "no workspace installed outside a scope");
    }
}
