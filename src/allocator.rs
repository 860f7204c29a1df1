//! The process allocator: mimalloc for ordinary allocations, the system
//! allocator for large ones.
//!
//! musl's allocator serializes threads on one lock, which capped request
//! throughput (BENCHMARKS.md), so small allocations go to mimalloc. But
//! mimalloc keeps freed large blocks committed for reuse, and a password
//! hash allocates 32 MiB at a time: after one login the process would keep
//! that memory for good. Allocations of 1 MiB and more therefore go to the
//! system allocator, which maps them on demand and unmaps them on free.

use std::alloc::{GlobalAlloc, Layout, System};

use mimalloc::MiMalloc;

/// From this size on, memory comes from (and goes back to) the system.
const LARGE: usize = 1 << 20;

pub struct SplitAllocator;

fn is_large(layout: &Layout) -> bool {
    layout.size() >= LARGE
}

// SAFETY: every method forwards to an allocator chosen by the layout's size
// alone, and `dealloc`/`realloc` receive the same layout the block was
// allocated with (GlobalAlloc's contract), so each block returns to the
// allocator it came from. A `realloc` that crosses the threshold allocates
// in the other allocator, copies, and frees the old block where it was made.
unsafe impl GlobalAlloc for SplitAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if is_large(&layout) {
            unsafe { System.alloc(layout) }
        } else {
            unsafe { MiMalloc.alloc(layout) }
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if is_large(&layout) {
            unsafe { System.alloc_zeroed(layout) }
        } else {
            unsafe { MiMalloc.alloc_zeroed(layout) }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if is_large(&layout) {
            unsafe { System.dealloc(ptr, layout) }
        } else {
            unsafe { MiMalloc.dealloc(ptr, layout) }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new_layout = match Layout::from_size_align(new_size, layout.align()) {
            Ok(new_layout) => new_layout,
            Err(_) => return std::ptr::null_mut(),
        };
        match (is_large(&layout), is_large(&new_layout)) {
            (false, false) => unsafe { MiMalloc.realloc(ptr, layout, new_size) },
            (true, true) => unsafe { System.realloc(ptr, layout, new_size) },
            _ => {
                let new_ptr = unsafe { self.alloc(new_layout) };
                if !new_ptr.is_null() {
                    let keep = layout.size().min(new_size);
                    unsafe {
                        std::ptr::copy_nonoverlapping(ptr, new_ptr, keep);
                        self.dealloc(ptr, layout);
                    }
                }
                new_ptr
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_cross_the_threshold_with_their_contents() {
        let allocator = SplitAllocator;
        unsafe {
            let small = Layout::from_size_align(64, 8).unwrap();
            let ptr = allocator.alloc(small);
            assert!(!ptr.is_null());
            for i in 0..64 {
                *ptr.add(i) = i as u8;
            }
            let grown = allocator.realloc(ptr, small, LARGE + 10);
            assert!(!grown.is_null());
            assert!(
                (0..64).all(|i| *grown.add(i) == i as u8),
                "grown into the system allocator"
            );
            let large = Layout::from_size_align(LARGE + 10, 8).unwrap();
            let shrunk = allocator.realloc(grown, large, 32);
            assert!(
                (0..32).all(|i| *shrunk.add(i) == i as u8),
                "shrunk back into mimalloc"
            );
            allocator.dealloc(shrunk, Layout::from_size_align(32, 8).unwrap());
        }
        let big: Vec<u8> = vec![7; 3 * LARGE];
        assert!(big.iter().all(|b| *b == 7));
    }
}
