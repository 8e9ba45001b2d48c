//! An access log line as bytes, text or JSON. Written by hand rather than through a
//! `tracing` formatter: one line per request is the proxy's hottest log, and a generic
//! formatter (field visitors, dynamic dispatch, a String per event) cost as much CPU per
//! request as proxying it (docs/benchmarks.md, "Access log overhead").

use std::io::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sluice_common::LogFormat;

/// A field's value.
#[derive(Clone)]
pub enum Value<'a> {
    Str(&'a str),
    Int(u64),
    /// Seconds, written with millisecond resolution as nginx writes times.
    Seconds(Duration),
}

/// Appends one line, ending in `\n`, to `out`: `fields` in order, those without a value
/// left out, each value escaped for the format, so nothing a client sends can forge a line
/// or a field.
pub fn line(
    out: &mut Vec<u8>,
    format: LogFormat,
    at: SystemTime,
    fields: &[(&str, Option<Value<'_>>)],
) {
    let fields = fields
        .iter()
        .filter_map(|(name, value)| Some((name, value.as_ref()?)));
    let ts = timestamp(at);
    match format {
        LogFormat::Json => {
            out.extend_from_slice(b"{\"timestamp\":\"");
            out.extend_from_slice(&ts);
            out.extend_from_slice(
                b"\",\"level\":\"INFO\",\"target\":\"access\",\"message\":\"request\"",
            );
            for (name, value) in fields {
                out.extend_from_slice(b",\"");
                out.extend_from_slice(name.as_bytes());
                out.extend_from_slice(b"\":");
                write_value(out, value);
            }
            out.extend_from_slice(b"}\n");
        }
        LogFormat::Text => {
            out.extend_from_slice(&ts);
            out.extend_from_slice(b"  INFO access: request");
            for (name, value) in fields {
                out.push(b' ');
                out.extend_from_slice(name.as_bytes());
                out.push(b'=');
                write_value(out, value);
            }
            out.push(b'\n');
        }
    }
}

fn write_value(out: &mut Vec<u8>, value: &Value<'_>) {
    match value {
        Value::Str(s) => quoted(out, s),
        Value::Int(n) => {
            let _ = write!(out, "{n}");
        }
        Value::Seconds(d) => {
            let ms = d.as_millis();
            let _ = write!(out, "{}.{:03}", ms / 1000, ms % 1000);
        }
    }
}

/// A JSON string: quotes, backslashes and control characters escaped.
fn quoted(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    for &b in s.as_bytes() {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0..=0x1f | 0x7f => {
                let _ = write!(out, "\\u{b:04x}");
            }
            _ => out.push(b),
        }
    }
    out.push(b'"');
}

/// RFC 3339 in UTC with microseconds, as the rest of the log writes times:
/// `2026-12-01T01:00:04.690891Z`.
fn timestamp(at: SystemTime) -> [u8; 27] {
    let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (year, month, day) = civil_from_days((secs / 86_400) as i64);
    let rest = secs % 86_400;
    let mut out = [0u8; 27];
    // Exactly 27 bytes for years 0 to 9999; a later year is cut short, never a panic.
    let _ = write!(
        std::io::Cursor::new(&mut out[..]),
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z",
        rest / 3600,
        rest / 60 % 60,
        rest % 60,
        since.subsec_micros()
    );
    out
}

/// The Gregorian date of a day counted from 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(format: LogFormat, fields: &[(&str, Value<'_>)]) -> String {
        let mut out = Vec::new();
        let at = UNIX_EPOCH + Duration::from_micros(1_764_550_804_690_891);
        let mut fields: Vec<_> = fields.iter().map(|(n, v)| (*n, Some(v.clone()))).collect();
        fields.push(("absent", None));
        line(&mut out, format, at, &fields);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn json_lines_parse_and_keep_hostile_values_inside_their_field() {
        let hostile = "x\"}\n{\"status\":200, \u{1}\\";
        let text = render(
            LogFormat::Json,
            &[
                ("user_agent", Value::Str(hostile)),
                ("status", Value::Int(404)),
                (
                    "request_time",
                    Value::Seconds(Duration::from_micros(12_345)),
                ),
            ],
        );
        assert_eq!(text.matches('\n').count(), 1, "{text}");
        let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed["user_agent"], hostile);
        assert_eq!(parsed["status"], 404);
        assert_eq!(parsed["request_time"], 0.012);
        assert_eq!(parsed["target"], "access");
        assert_eq!(parsed["timestamp"], "2025-12-01T01:00:04.690891Z");
    }

    #[test]
    fn text_lines_quote_strings_and_write_numbers_bare() {
        let text = render(
            LogFormat::Text,
            &[
                ("method", Value::Str("GET")),
                ("ua", Value::Str("a \"b\"\nc")),
                ("status", Value::Int(200)),
                ("request_time", Value::Seconds(Duration::from_secs(2))),
            ],
        );
        assert_eq!(
            text,
            "2025-12-01T01:00:04.690891Z  INFO access: request method=\"GET\" ua=\"a \\\"b\\\"\\nc\" status=200 request_time=2.000\n"
        );
    }

    #[test]
    fn dates_match_the_calendar() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(20_423), (2025, 12, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
    }
}
