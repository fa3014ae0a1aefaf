//! CPU time as `/proc` reports it, for a process or one of its threads.

use std::path::Path;

/// Linux reports `/proc` CPU times in USER_HZ, which is 100 on every mainstream build.
pub const TICKS_PER_SECOND: f64 = 100.0;

/// What a `/proc/.../stat` file says about CPU time.
pub struct Stat {
    /// The command name (for a thread, its name).
    pub comm: String,
    /// utime + stime: ticks the process (or thread) spent itself.
    pub ticks: u64,
    /// cutime + cstime: ticks of the children it has reaped (PostgreSQL backends that exited
    /// are counted in the postmaster's).
    pub reaped_children_ticks: u64,
}

/// Reads a `/proc/<pid>/stat` or `/proc/<pid>/task/<tid>/stat` file.
pub fn read_stat(path: impl AsRef<Path>) -> Option<Stat> {
    let stat = std::fs::read_to_string(path).ok()?;
    let (open, close) = (stat.find('(')?, stat.rfind(')')?);
    let comm = stat.get(open + 1..close)?.to_owned();
    let fields: Vec<&str> = stat.get(close + 1..)?.split_whitespace().collect();
    // After the command: state is field 3; utime, stime, cutime, cstime are fields 14 to 17.
    let ticks: Vec<u64> = fields
        .get(11..15)?
        .iter()
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    Some(Stat {
        comm,
        ticks: ticks[0] + ticks[1],
        reaped_children_ticks: ticks[2] + ticks[3],
    })
}
