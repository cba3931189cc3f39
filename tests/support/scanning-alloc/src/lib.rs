//! A global allocator for tests that finds secrets left in freed memory.
//!
//! [`ScanningAlloc`] is the system allocator plus one check: while armed with a marker
//! (a byte string the test puts inside the secret values it hands to the code under
//! test), every block that is freed, or moved away from by a reallocation, is scanned
//! for the marker before it goes back to the system, and each block holding it is
//! counted. A block zeroized before it is freed holds no marker.
//!
//! ```text
//! #[global_allocator]
//! static ALLOC: scanning_alloc::ScanningAlloc = scanning_alloc::ScanningAlloc;
//!
//! scanning_alloc::arm(marker);
//! code_under_test();
//! assert_eq!(scanning_alloc::disarm(), 0);
//! ```
//!
//! Blocks are handed out zeroed (`alloc_zeroed`), so every byte of a block has been
//! written when it is scanned. Only heap blocks are seen: copies on the stack or in
//! registers are not.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

/// The length of the marker.
pub const MARKER_LEN: usize = 32;

static ARMED: AtomicBool = AtomicBool::new(false);
static MARKER: [AtomicU64; 4] = [const { AtomicU64::new(0) }; 4];
static HITS: AtomicUsize = AtomicUsize::new(0);
static SCANNED: AtomicUsize = AtomicUsize::new(0);

/// The system allocator, scanning freed blocks for the armed marker.
#[derive(Debug, Clone, Copy, Default)]
pub struct ScanningAlloc;

/// Starts scanning freed blocks for `marker`, with the counts at zero.
pub fn arm(marker: [u8; MARKER_LEN]) {
    ARMED.store(false, Ordering::SeqCst);
    for (slot, chunk) in MARKER.iter().zip(marker.chunks_exact(8)) {
        let mut word = [0; 8];
        word.copy_from_slice(chunk);
        slot.store(u64::from_ne_bytes(word), Ordering::SeqCst);
    }
    HITS.store(0, Ordering::SeqCst);
    SCANNED.store(0, Ordering::SeqCst);
    ARMED.store(true, Ordering::SeqCst);
}

/// Stops scanning; returns how many freed blocks held the marker.
pub fn disarm() -> usize {
    ARMED.store(false, Ordering::SeqCst);
    HITS.load(Ordering::SeqCst)
}

/// How many blocks were scanned since the last [`arm`].
pub fn scanned() -> usize {
    SCANNED.load(Ordering::SeqCst)
}

fn marker() -> [u8; MARKER_LEN] {
    let mut marker = [0; MARKER_LEN];
    for (chunk, slot) in marker.chunks_exact_mut(8).zip(&MARKER) {
        chunk.copy_from_slice(&slot.load(Ordering::SeqCst).to_ne_bytes());
    }
    marker
}

/// Counts the block if it holds the marker. Allocates nothing.
fn scan(block: &[u8]) {
    if !ARMED.load(Ordering::SeqCst) {
        return;
    }
    SCANNED.fetch_add(1, Ordering::Relaxed);
    let marker = marker();
    if block.windows(MARKER_LEN).any(|window| window == marker) {
        HITS.fetch_add(1, Ordering::SeqCst);
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments, which satisfy
// `System`'s contract because they satisfy `GlobalAlloc`'s; `realloc` keeps the default
// (allocate, copy, free), so every block that is given up goes through `dealloc`.
unsafe impl GlobalAlloc for ScanningAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded under the caller's guarantees (non-zero size). Zeroed so
        // that `dealloc` reads only initialized bytes.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded under the caller's guarantees.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller guarantees `ptr` is a live block of `layout` from this
        // allocator: `layout.size()` bytes, all initialized (zeroed at allocation, then
        // written by the program), and nobody else uses it any more.
        let block = unsafe { std::slice::from_raw_parts(ptr, layout.size()) };
        scan(block);
        // SAFETY: forwarded under the caller's guarantees; `block` is no longer used.
        unsafe { System.dealloc(ptr, layout) }
    }
}
