//! Randomness from the operating system's CSPRNG.
//!
//! Random IVs are drawn from a per-thread pool that is filled from the operating
//! system's generator 4 KiB at a time, so that encrypting a value does not cost a system
//! call. Each pooled byte is handed out once and erased; the pool is refilled after a
//! `fork` (checked by process id on every draw), so a child process never reuses its
//! parent's IVs. The pool holds only IVs, which are public once used.

use std::cell::RefCell;

use crate::{Error, Result};

/// Fills `dest` from the operating system's cryptographically secure generator.
pub(crate) fn fill(dest: &mut [u8]) -> Result<()> {
    getrandom::fill(dest).map_err(|error| Error::Randomness {
        source: crate::error::RandomnessError::os(error),
    })
}

const POOL_LEN: usize = 4096;
const IV_LEN: usize = 16;

struct Pool {
    bytes: [u8; POOL_LEN],
    used: usize,
    process: u32,
}

thread_local! {
    static POOL: RefCell<Pool> = const {
        RefCell::new(Pool { bytes: [0; POOL_LEN], used: POOL_LEN, process: 0 })
    };
}

impl Pool {
    fn take(&mut self, check_process: bool) -> Result<[u8; IV_LEN]> {
        let forked = check_process && {
            let process = std::process::id();
            let forked = self.process != process;
            self.process = process;
            forked
        };
        if self.used + IV_LEN > POOL_LEN || forked {
            // Empty until refilled: a failed refill never leaves old bytes to hand out.
            self.used = POOL_LEN;
            fill(&mut self.bytes)?;
            self.used = 0;
        }
        let mut iv = [0; IV_LEN];
        if let Some(bytes) = self.bytes.get_mut(self.used..self.used + IV_LEN) {
            iv.copy_from_slice(bytes);
            bytes.fill(0);
        }
        self.used += IV_LEN;
        Ok(iv)
    }
}

/// A fresh 16-byte IV from the operating system's generator (through the pool).
pub(crate) fn iv() -> Result<[u8; IV_LEN]> {
    draw(true)
}

/// IVs for one synchronous piece of work (one document): the process id is checked at
/// the first draw only, since this thread cannot fork in the middle of it.
pub(crate) struct Ivs {
    checked: bool,
}

impl Ivs {
    pub(crate) fn new() -> Self {
        Self { checked: false }
    }

    pub(crate) fn next(&mut self) -> Result<[u8; IV_LEN]> {
        let iv = draw(!self.checked)?;
        self.checked = true;
        Ok(iv)
    }
}

fn draw(check_process: bool) -> Result<[u8; IV_LEN]> {
    let pooled = POOL.try_with(|pool| match pool.try_borrow_mut() {
        Ok(mut pool) => Some(pool.take(check_process)),
        Err(_) => None,
    });
    match pooled {
        Ok(Some(iv)) => iv,
        // The thread is being torn down, or (impossible today) a draw is nested in
        // another: ask the operating system directly.
        _ => {
            let mut iv = [0; IV_LEN];
            fill(&mut iv)?;
            Ok(iv)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn ivs_are_never_repeated_across_pool_refills_and_threads() {
        let mut seen = HashSet::new();
        for _ in 0..3 * POOL_LEN / IV_LEN {
            assert!(seen.insert(iv().unwrap()));
        }
        let mut session = Ivs::new();
        for _ in 0..POOL_LEN / IV_LEN {
            assert!(seen.insert(session.next().unwrap()));
        }
        let other: Vec<_> = std::thread::spawn(|| (0..1000).map(|_| iv().unwrap()).collect())
            .join()
            .unwrap();
        for iv in other {
            assert!(seen.insert(iv));
        }
    }
}
