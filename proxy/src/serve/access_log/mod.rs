//! The access log: one line per request, with the fields people look for in ingress-nginx's
//! log. Both HTTP/1.1 paths and HTTP/2 write the same line through
//! [`super::outcome::finish`]. Whether a request is logged is a live setting (on/off and a
//! sampling ratio), changed without a restart.

mod format;
mod sink;

use std::cell::RefCell;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use sluice_common::LogFormat;
use sluice_crds::params::ResolvedAccessLog;

use format::Value;
use sink::Sink;

/// Whether, and how often, requests are logged, and where the lines go.
pub struct AccessLog {
    enabled: AtomicBool,
    /// The bits of an f64 in 0.0..=1.0.
    ratio: AtomicU64,
    format: LogFormat,
    sink: Sink,
}

impl AccessLog {
    pub fn new(settings: ResolvedAccessLog, format: LogFormat) -> Self {
        Self {
            enabled: AtomicBool::new(settings.enabled),
            ratio: AtomicU64::new(settings.sampling_ratio.to_bits()),
            format,
            sink: Sink::default(),
        }
    }

    pub fn settings(&self) -> ResolvedAccessLog {
        ResolvedAccessLog {
            enabled: self.enabled.load(Ordering::Relaxed),
            sampling_ratio: f64::from_bits(self.ratio.load(Ordering::Relaxed)),
        }
    }

    /// Takes `settings`; `true` if they differ from what was in force.
    pub fn set(&self, settings: ResolvedAccessLog) -> bool {
        let changed = self.settings() != settings;
        self.enabled.store(settings.enabled, Ordering::Relaxed);
        self.ratio
            .store(settings.sampling_ratio.to_bits(), Ordering::Relaxed);
        changed
    }

    /// Whether this request is logged: a coin toss at the sampling ratio.
    pub fn sampled(&self) -> bool {
        if !self.enabled.load(Ordering::Relaxed) {
            return false;
        }
        let ratio = f64::from_bits(self.ratio.load(Ordering::Relaxed));
        ratio >= 1.0 || fastrand::f64() < ratio
    }

    /// Lines dropped because stderr could not take them.
    pub fn dropped(&self) -> u64 {
        self.sink.dropped()
    }

    /// Writes out the lines not yet written (at exit).
    pub fn flush(&self) {
        self.sink.flush();
    }
}

impl std::fmt::Debug for AccessLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessLog")
            .field("settings", &self.settings())
            .field("format", &self.format)
            .finish()
    }
}

/// What a request's line says beyond its outcome; filled in by the path that served it.
#[derive(Clone, Debug, Default)]
pub struct Exchange<'a> {
    /// The address the connection came from.
    pub client: Option<IpAddr>,
    /// `HTTP/1.0`, `HTTP/1.1` or `HTTP/2.0`.
    pub protocol: &'static str,
    /// The Host (or :authority) as sent.
    pub host: &'a str,
    /// Path and query as sent.
    pub uri: &'a str,
    /// Head and body bytes received (an HTTP/2 head counted as its HTTP/1.1 form).
    pub request_length: u64,
    /// Response body bytes sent to the client.
    pub body_bytes_sent: u64,
    /// The status the upstream answered, when one did.
    pub upstream_status: Option<u16>,
    /// From sending the request to the last attempted endpoint until its response ended.
    pub upstream_time: Option<Duration>,
    /// The request's X-Request-Id: the client's, or the one the proxy added.
    pub request_id: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub referer: Option<&'a str>,
}

/// The outcome half of a line.
pub struct Line<'a> {
    pub exchange: &'a Exchange<'a>,
    pub method: &'a str,
    pub status: u16,
    pub elapsed: Duration,
    /// `namespace/name` of the Ingress, `namespace/service:port` of the backend; empty when
    /// no rule matched.
    pub ingress: &'a str,
    pub backend: &'a str,
    pub upstream: Option<SocketAddr>,
    pub attempts: usize,
    pub error: Option<&'a str>,
}

thread_local! {
    /// Each serving thread formats its lines here, so a line costs no allocation.
    static SCRATCH: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(1024));
}

impl AccessLog {
    /// Writes the line. Every value is a field escaped by the format, never spliced.
    pub fn write(&self, line: &Line<'_>) {
        let x = line.exchange;
        let (namespace, ingress) = line.ingress.split_once('/').unwrap_or(("", line.ingress));
        let service = line
            .backend
            .split_once('/')
            .map_or(line.backend, |(_, s)| s);
        let (service, service_port) = service.rsplit_once(':').unwrap_or((service, ""));
        let mut client = [0u8; 64];
        let mut upstream = [0u8; 64];
        let client = x.client.map(|ip| display(&mut client, ip));
        let upstream_addr = line.upstream.map(|a| display(&mut upstream, a));
        // Absent values (no upstream, no User-Agent...) leave their field out.
        let fields = [
            ("client", client.map(Value::Str)),
            ("method", Some(Value::Str(line.method))),
            ("host", Some(Value::Str(x.host))),
            ("uri", Some(Value::Str(x.uri))),
            ("protocol", Some(Value::Str(x.protocol))),
            ("status", Some(Value::Int(line.status.into()))),
            ("body_bytes_sent", Some(Value::Int(x.body_bytes_sent))),
            ("request_length", Some(Value::Int(x.request_length))),
            ("request_time", Some(Value::Seconds(line.elapsed))),
            ("upstream_addr", upstream_addr.map(Value::Str)),
            (
                "upstream_status",
                x.upstream_status.map(|s| Value::Int(s.into())),
            ),
            (
                "upstream_response_time",
                x.upstream_time.map(Value::Seconds),
            ),
            ("attempts", Some(Value::Int(line.attempts as u64))),
            ("request_id", x.request_id.map(Value::Str)),
            ("namespace", Some(Value::Str(namespace))),
            ("ingress", Some(Value::Str(ingress))),
            ("service", Some(Value::Str(service))),
            ("service_port", Some(Value::Str(service_port))),
            ("user_agent", x.user_agent.map(Value::Str)),
            ("referer", x.referer.map(Value::Str)),
            ("error", line.error.map(Value::Str)),
        ];
        SCRATCH.with_borrow_mut(|out| {
            out.clear();
            format::line(out, self.format, SystemTime::now(), &fields);
            self.sink.push(out);
        });
    }
}

/// `value` written into `buf` (an address: always fits), as text.
fn display(buf: &mut [u8; 64], value: impl std::fmt::Display) -> &str {
    use std::io::Write as _;
    let mut cursor = std::io::Cursor::new(&mut buf[..]);
    let _ = write!(cursor, "{value}");
    let n = cursor.position() as usize;
    std::str::from_utf8(&buf[..n]).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_logs_nothing_and_a_ratio_samples_about_that_share() {
        let log = AccessLog::new(ResolvedAccessLog::default(), LogFormat::Text);
        assert!((0..100).all(|_| log.sampled()));
        assert!(log.set(ResolvedAccessLog {
            enabled: false,
            sampling_ratio: 1.0
        }));
        assert!((0..100).all(|_| !log.sampled()));
        log.set(ResolvedAccessLog {
            enabled: true,
            sampling_ratio: 0.25,
        });
        let logged = (0..20_000).filter(|_| log.sampled()).count();
        // 5,000 expected; the bounds are more than 10 standard deviations (61) away.
        assert!((4_300..5_700).contains(&logged), "{logged}");
        assert!(!log.set(log.settings()));
    }

    #[test]
    fn addresses_are_written_in_full() {
        let mut buf = [0u8; 64];
        let v6: SocketAddr = "[2001:db8:ffff:ffff:ffff:ffff:ffff:ffff]:65535"
            .parse()
            .unwrap();
        assert_eq!(
            display(&mut buf, v6),
            "[2001:db8:ffff:ffff:ffff:ffff:ffff:ffff]:65535"
        );
    }
}
