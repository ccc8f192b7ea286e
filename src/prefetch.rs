//! Asking the CPU to start loading memory that is about to be read.
//!
//! Random lookups into large structures (the overlay's index, a pack's frames) each stall on
//! a cache miss. Where the next lookups are known in advance, starting their loads early lets
//! the misses overlap with other work. A prefetch is only a hint: it never faults and has no
//! effect on what the program computes.

/// Start loading the cache line that holds `value`.
#[inline]
pub fn line<T>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch reads nothing architecturally and cannot fault; `value` is a valid
    // reference in any case.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(
            std::ptr::from_ref(value).cast(),
        );
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}
