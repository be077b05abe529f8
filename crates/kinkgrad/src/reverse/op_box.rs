//! [`OpBox`]: a recorded op in a memory block from the installed buffer pool
//! ([`crate::tensor::pool`]) instead of a `Box` of its own, so that a training step's tape reuses
//! the previous step's op storage.

use super::op::Op;
use crate::scalar::Real;
use crate::tensor::pool;
use std::alloc::Layout;
use std::ptr::NonNull;

/// An owned `dyn Op<T>` whose storage is a block of exactly its layout from
/// [`pool::take_block`], returned with [`pool::give_block`] when it drops (or nothing, for an op of
/// size zero).
pub(crate) struct OpBox<T: Real> {
    ptr: NonNull<dyn Op<T>>,
}

impl<T: Real> OpBox<T> {
    /// Move `op` into a pooled block.
    pub(crate) fn new<O: Op<T> + 'static>(op: O) -> Self {
        let layout = Layout::new::<O>();
        let p: NonNull<O> = if layout.size() == 0 { NonNull::dangling() } else { pool::take_block(layout).cast::<O>() };
        // SAFETY: `p` is valid for writes of one `O` and aligned for it: a block of exactly
        // `Layout::new::<O>()`, or a dangling aligned pointer for a zero-sized `O`.
        unsafe { p.as_ptr().write(op) };
        let ptr: NonNull<dyn Op<T>> = p;
        Self { ptr }
    }
}

impl<T: Real> Drop for OpBox<T> {
    fn drop(&mut self) {
        let p = self.ptr.as_ptr();
        // SAFETY: `p` points to the live op written by `new` and owned by this box alone; it is
        // dropped once, here, and its block (of the layout of the op's concrete type, which
        // `Layout::for_value` reads from the vtable) goes back to the pool, unused afterwards.
        unsafe {
            let layout = Layout::for_value(&*p);
            std::ptr::drop_in_place(p);
            if layout.size() > 0 {
                pool::give_block(self.ptr.cast::<u8>(), layout);
            }
        }
    }
}

impl<T: Real> std::ops::Deref for OpBox<T> {
    type Target = dyn Op<T>;
    fn deref(&self) -> &(dyn Op<T> + 'static) {
        // SAFETY: the op is live while the box is; shared access follows `&self`.
        unsafe { self.ptr.as_ref() }
    }
}

impl<T: Real> std::ops::DerefMut for OpBox<T> {
    fn deref_mut(&mut self) -> &mut (dyn Op<T> + 'static) {
        // SAFETY: the op is live while the box is; exclusive access follows `&mut self`.
        unsafe { self.ptr.as_mut() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reverse::op::{JvpCx, OpCx};
    use crate::reverse::Var;
    use crate::tensor::Tensor;
    use std::cell::Cell;
    use std::rc::Rc;

    /// An op that counts its drops and reports a fixed name.
    struct Probe {
        drops: Rc<Cell<usize>>,
        _pad: [u64; 5],
    }
    impl Op<f64> for Probe {
        fn name(&self) -> &'static str {
            "probe"
        }
        fn vjp<'t>(&self, _cx: &OpCx<'t, f64>, g: Var<'t, f64>) -> Vec<Option<Var<'t, f64>>> {
            vec![Some(g)]
        }
        fn jvp(&mut self, cx: &JvpCx<'_, f64>) -> Tensor<f64> {
            cx.out.clone()
        }
        fn held_bytes(&self) -> usize {
            7
        }
    }
    impl Drop for Probe {
        fn drop(&mut self) {
            self.drops.set(self.drops.get() + 1);
        }
    }
    struct Empty;
    impl Op<f64> for Empty {
        fn name(&self) -> &'static str {
            "empty"
        }
        fn vjp<'t>(&self, _cx: &OpCx<'t, f64>, _g: Var<'t, f64>) -> Vec<Option<Var<'t, f64>>> {
            vec![]
        }
        fn jvp(&mut self, cx: &JvpCx<'_, f64>) -> Tensor<f64> {
            cx.out.clone()
        }
    }

    /// Each op is dropped exactly once, a zero-sized op
    /// takes no block, and inside a workspace the next op of the same layout reuses the block of the
    /// one dropped before it (same address).
    #[test]
    fn ops_drop_once_and_reuse_their_blocks() {
        let drops = Rc::new(Cell::new(0));
        let mut ws = pool::Workspace::new();
        let _s = ws.enter();
        let a = OpBox::new(Probe { drops: drops.clone(), _pad: [0; 5] });
        assert_eq!((a.name(), a.held_bytes()), ("probe", 7));
        let at = &*a as *const dyn Op<f64> as *const u8;
        drop(a);
        assert_eq!(drops.get(), 1);
        let b = OpBox::new(Probe { drops: drops.clone(), _pad: [0; 5] });
        assert_eq!(&*b as *const dyn Op<f64> as *const u8, at, "the freed block serves the next op");
        drop(b);
        assert_eq!(drops.get(), 2);
        let e = OpBox::new(Empty);
        assert_eq!(e.name(), "empty");
    }
}
