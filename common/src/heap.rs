//! glibc `malloc` settings for training's allocation pattern.
//!
//! Every update allocates and frees the same tensors, several of them above glibc's initial
//! `mmap` threshold (128 KiB: the flat Adam buffers, the batch's activations). By default glibc
//! returns such memory to the kernel (an `munmap`, or trimming the heap's top) and the next
//! update faults the pages in again: on the fragment learner at 4 molecules per update that was
//! about a sixth of the update's time, in page faults and zeroing pages
//! (`scripts/bench-fragment-learner`, docs/BENCHMARKS.md). With fixed thresholds the memory stays
//! in the process and is reused; the peak resident size barely moves (236 → 248 MB on the bench
//! at 64 molecules per update).

/// Allocations up to this size come from the heap, never from their own `mmap`.
const MMAP_THRESHOLD: i32 = 64 << 20;
/// The heap's top is returned to the kernel only once this much of it is free.
const TRIM_THRESHOLD: i32 = 256 << 20;

/// Keeps freed memory in the process (see the module). Call once, first thing in `main`; a
/// no-op where the C library is not glibc. Returns whether glibc took both settings.
pub fn keep_freed_memory() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only changes the allocator's tuning parameters; it is safe to call
        // at any time (glibc serialises it with the arenas' locks).
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
                && libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn glibc_takes_the_settings() {
        assert_eq!(super::keep_freed_memory(), cfg!(all(target_os = "linux", target_env = "gnu")));
    }
}
