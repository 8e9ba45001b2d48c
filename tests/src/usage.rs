//! What a process costs, read from /proc: resident memory and CPU time, for benchmarks.

use std::time::Duration;

/// Resident memory and CPU time (user + system) of one process so far.
#[derive(Clone, Copy, Debug)]
pub struct Usage {
    pub rss_bytes: u64,
    pub cpu: Duration,
}

/// Reads `/proc/PID/status` and `/proc/PID/stat`.
pub fn usage(pid: u32) -> anyhow::Result<Usage> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let rss_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no VmRSS for process {pid}"))?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    Ok(Usage {
        rss_bytes: rss_kib * 1024,
        cpu: cpu_time(&stat)?,
    })
}

/// USER_HZ: fixed at 100 by Linux's user-space ABI on the machines Sluice runs on.
const TICKS_PER_SECOND: u64 = 100;

/// utime + stime from a `/proc/PID/stat` line (fields 14 and 15, after the command name,
/// which may itself hold spaces and parentheses).
fn cpu_time(stat: &str) -> anyhow::Result<Duration> {
    let after_name = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .ok_or_else(|| anyhow::anyhow!("unreadable /proc stat line"))?;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // After the name: state is field 3, so utime (14) and stime (15) are at 11 and 12.
    let ticks = |i: usize| -> anyhow::Result<u64> {
        Ok(fields
            .get(i)
            .ok_or_else(|| anyhow::anyhow!("short /proc stat line"))?
            .parse()?)
    };
    let total = ticks(11)? + ticks(12)?;
    Ok(Duration::from_millis(total * 1000 / TICKS_PER_SECOND))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cpu_time_past_a_name_with_spaces() {
        let hz = TICKS_PER_SECOND;
        let line = format!(
            "42 (a (b) c) S 1 42 42 0 -1 4194560 100 0 0 0 {} {} 0 0 20 0 1 0 1 1 1",
            3 * hz,
            hz
        );
        assert_eq!(cpu_time(&line).unwrap(), Duration::from_secs(4));
        assert!(usage(std::process::id()).unwrap().rss_bytes > 0);
    }
}
