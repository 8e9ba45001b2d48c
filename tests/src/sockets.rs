//! Which TCP ports a process listens on, read from `/proc`: a test's readiness probe can
//! then tell its own process from another one that took the same port.

use std::collections::HashSet;

/// The local ports of the TCP sockets in LISTEN state that process `pid` holds open.
pub fn listening_ports(pid: u32) -> std::io::Result<HashSet<u16>> {
    let inodes = socket_inodes(pid)?;
    let mut ports = HashSet::new();
    for table in ["tcp", "tcp6"] {
        // The tables of the process's own network namespace.
        let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")) else {
            continue;
        };
        ports.extend(text.lines().skip(1).filter_map(|line| {
            let (port, inode) = listening_entry(line)?;
            inodes.contains(&inode).then_some(port)
        }));
    }
    Ok(ports)
}

/// The inodes of the sockets among the process's open files.
fn socket_inodes(pid: u32) -> std::io::Result<HashSet<u64>> {
    let mut inodes = HashSet::new();
    for entry in std::fs::read_dir(format!("/proc/{pid}/fd"))? {
        let Ok(target) = std::fs::read_link(entry?.path()) else {
            continue; // closed since the listing
        };
        if let Some(inode) = target
            .to_str()
            .and_then(|t| t.strip_prefix("socket:["))
            .and_then(|t| t.strip_suffix(']'))
            .and_then(|t| t.parse().ok())
        {
            inodes.insert(inode);
        }
    }
    Ok(inodes)
}

/// `(local port, inode)` of one `/proc/net/tcp` line, when the socket listens.
fn listening_entry(line: &str) -> Option<(u16, u64)> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let local = fields.get(1)?;
    // State 0A is TCP_LISTEN.
    if *fields.get(3)? != "0A" {
        return None;
    }
    let port = u16::from_str_radix(local.rsplit(':').next()?, 16).ok()?;
    let inode = fields.get(9)?.parse().ok()?;
    Some((port, inode))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_this_process_listening_and_not_after_it_closes() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        assert!(listening_ports(std::process::id()).unwrap().contains(&port));
        drop(listener);
        assert!(!listening_ports(std::process::id()).unwrap().contains(&port));
    }

    #[test]
    fn reads_a_listening_line_and_skips_others() {
        let listen = "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 12345 1 0000000000000000 100 0 0 10 0";
        let established = "   1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 12346 1 0000000000000000 20 4 30 10 -1";
        assert_eq!(listening_entry(listen), Some((8080, 12345)));
        assert_eq!(listening_entry(established), None);
        assert_eq!(listening_entry("garbage"), None);
    }
}
