//! This process's memory: RSS from `/proc`, glibc's count of heap bytes in use, and a
//! reading taken once in-flight work has settled and free pages went back to the kernel.

use std::time::Duration;

/// Waits before reading RSS, so in-flight work (snapshots, inserts) has settled.
const MEMORY_SETTLE: Duration = Duration::from_secs(2);

/// The process's memory at one moment.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reading {
    pub(crate) rss: u64,
    /// glibc's bytes in use (all arenas, mmapped chunks included), modulo 2^32.
    heap: Option<u32>,
}

/// Growth per new actor between two readings: (RSS, heap).
pub(crate) fn per_actor(from: Reading, to: Reading, actors: u64) -> (f64, Option<f64>) {
    let actors = actors.max(1) as f64;
    let rss = to.rss.saturating_sub(from.rss) as f64 / actors;
    let heap = from
        .heap
        .zip(to.heap)
        .map(|(a, b)| f64::from(b.wrapping_sub(a)) / actors);
    (rss, heap)
}

/// Memory once in-flight work (snapshot writes, inserts) has settled and free pages are
/// returned to the kernel.
pub(crate) async fn settled() -> Option<Reading> {
    tokio::time::sleep(MEMORY_SETTLE).await;
    release_free_memory();
    Some(Reading {
        rss: rss_bytes()?,
        heap: heap_in_use(),
    })
}

/// glibc's count of heap bytes in use, over every arena and mmapped chunk (`mallinfo`'s
/// fields are C `int`s: the sum is right modulo 2^32, which a difference survives).
fn heap_in_use() -> Option<u32> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use std::os::raw::c_int;
        #[repr(C)]
        struct MallInfo {
            arena: c_int,
            ordblks: c_int,
            smblks: c_int,
            hblks: c_int,
            hblkhd: c_int,
            usmblks: c_int,
            fsmblks: c_int,
            uordblks: c_int,
            fordblks: c_int,
            keepcost: c_int,
        }
        extern "C" {
            fn mallinfo() -> MallInfo;
        }
        // SAFETY: glibc's mallinfo only reads the allocator's statistics (under its locks)
        // and returns them by value.
        let info = unsafe { mallinfo() };
        Some((info.uordblks as u32).wrapping_add(info.hblkhd as u32))
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    None
}

pub(crate) fn mib(bytes: u64) -> f64 {
    bytes as f64 / 1_048_576.0
}

/// Gives freed heap pages back to the kernel, so RSS shows what is in use.
fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            fn malloc_trim(pad: usize) -> std::os::raw::c_int;
        }
        // SAFETY: glibc's malloc_trim only returns free pages of the heap to the kernel; it
        // takes no pointers and is safe to call from any thread at any time.
        unsafe {
            malloc_trim(0);
        }
    }
}

fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
