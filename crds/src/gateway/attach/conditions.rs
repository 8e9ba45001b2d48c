//! Building status conditions that do not change when nothing changed.
//!
//! The operator recomputes status on every reconcile and writes only when the result differs
//! from what the object holds. That only works if the same inputs give the same conditions,
//! so a condition keeps its previous `lastTransitionTime` while its status and reason stay
//! the same (a new message or generation alone is not a transition), and a new time is
//! taken to the second, as the API server stores it.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;

/// The longest message a condition may carry (the API server's limit, in bytes).
pub const MAX_MESSAGE_BYTES: usize = 32768;

/// A condition's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    True,
    False,
    Unknown,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::True => "True",
            Self::False => "False",
            Self::Unknown => "Unknown",
        }
    }
}

/// What a condition says: status, reason (one of [`super::reasons`]) and a message for
/// people. Its type is given where it is set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub status: Status,
    pub reason: &'static str,
    pub message: String,
}

impl Outcome {
    pub fn new(status: Status, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            reason,
            message: message.into(),
        }
    }

    /// A `True` condition.
    pub fn yes(reason: &'static str, message: impl Into<String>) -> Self {
        Self::new(Status::True, reason, message)
    }

    /// A `False` condition.
    pub fn no(reason: &'static str, message: impl Into<String>) -> Self {
        Self::new(Status::False, reason, message)
    }

    pub fn is_true(&self) -> bool {
        self.status == Status::True
    }
}

/// The condition `type_` saying `outcome`, for an object at `generation`.
///
/// `previous` are the conditions the object holds now (any types, in any order): when the
/// one of this type has the same status and reason, its `lastTransitionTime` is kept;
/// otherwise the transition happens `now` (to the second).
pub fn condition(
    type_: &str,
    outcome: &Outcome,
    generation: Option<i64>,
    previous: &[Condition],
    now: &Time,
) -> Condition {
    let status = outcome.status.as_str();
    let last_transition_time = previous
        .iter()
        .find(|c| c.type_ == type_)
        .filter(|c| c.status == status && c.reason == outcome.reason)
        .map_or_else(|| whole_seconds(now), |c| c.last_transition_time.clone());
    Condition {
        last_transition_time,
        message: bounded(&outcome.message),
        observed_generation: generation,
        reason: outcome.reason.to_string(),
        status: status.to_string(),
        type_: type_.to_string(),
    }
}

/// [`condition`] for each `(type, outcome)`, in the order given.
pub fn conditions<'a>(
    wanted: impl IntoIterator<Item = (&'a str, &'a Outcome)>,
    generation: Option<i64>,
    previous: &[Condition],
    now: &Time,
) -> Vec<Condition> {
    wanted
        .into_iter()
        .map(|(type_, outcome)| condition(type_, outcome, generation, previous, now))
        .collect()
}

/// `now` without its fraction of a second: the API server keeps whole seconds, and a time
/// read back must equal the one written.
fn whole_seconds(now: &Time) -> Time {
    Timestamp::from_second(now.0.as_second()).map_or_else(|_| now.clone(), Time)
}

/// `message`, cut (at a character boundary) to what the API server accepts.
fn bounded(message: &str) -> String {
    if message.len() <= MAX_MESSAGE_BYTES {
        return message.to_string();
    }
    let mut end = MAX_MESSAGE_BYTES;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    message[..end].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Time {
        Time(s.parse().unwrap())
    }

    const EARLY: &str = "2025-01-01T00:00:00Z";
    const LATER: &str = "2025-06-01T12:00:00.75Z";

    #[test]
    fn a_new_condition_transitions_now_to_the_second() {
        let c = condition(
            "Accepted",
            &Outcome::yes("Accepted", "ok"),
            Some(3),
            &[],
            &at(LATER),
        );
        assert_eq!(c.last_transition_time, at("2025-06-01T12:00:00Z"));
        assert_eq!(c.observed_generation, Some(3));
        assert_eq!((c.status.as_str(), c.reason.as_str()), ("True", "Accepted"));
        assert_eq!(c.type_, "Accepted");
        assert_eq!(c.message, "ok");
    }

    #[test]
    fn the_time_moves_only_when_status_or_reason_does() {
        let first = condition(
            "Accepted",
            &Outcome::yes("Accepted", "ok"),
            Some(1),
            &[],
            &at(EARLY),
        );
        // (outcome, generation, whether the time must move)
        let cases = [
            (Outcome::yes("Accepted", "ok"), Some(1), false),
            (Outcome::yes("Accepted", "a new message"), Some(1), false),
            (Outcome::yes("Accepted", "ok"), Some(2), false),
            (Outcome::no("Accepted", "ok"), Some(1), true),
            (Outcome::yes("ListenersNotValid", "ok"), Some(1), true),
            (
                Outcome::new(Status::Unknown, "Accepted", "ok"),
                Some(1),
                true,
            ),
        ];
        for (outcome, generation, moves) in cases {
            let next = condition(
                "Accepted",
                &outcome,
                generation,
                std::slice::from_ref(&first),
                &at(LATER),
            );
            let expected = if moves {
                at("2025-06-01T12:00:00Z")
            } else {
                at(EARLY)
            };
            assert_eq!(next.last_transition_time, expected, "{outcome:?}");
            assert_eq!(next.observed_generation, generation);
        }
    }

    #[test]
    fn rewriting_in_a_loop_changes_nothing() {
        let wanted = [
            ("Accepted", Outcome::yes("Accepted", "")),
            ("ResolvedRefs", Outcome::no("RefNotPermitted", "no grant")),
        ];
        let pairs = || wanted.iter().map(|(t, o)| (*t, o));
        let mut current = conditions(pairs(), Some(5), &[], &at(EARLY));
        for second in 1..5 {
            let now = at(&format!("2025-01-01T00:00:0{second}Z"));
            let next = conditions(pairs(), Some(5), &current, &now);
            assert_eq!(next, current);
            current = next;
        }
    }

    #[test]
    fn only_the_previous_condition_of_the_same_type_counts() {
        let other = condition(
            "Programmed",
            &Outcome::yes("Accepted", ""),
            None,
            &[],
            &at(EARLY),
        );
        let c = condition(
            "Accepted",
            &Outcome::yes("Accepted", ""),
            None,
            &[other],
            &at(LATER),
        );
        assert_eq!(c.last_transition_time, at("2025-06-01T12:00:00Z"));
    }

    #[test]
    fn long_messages_are_cut_at_a_character_boundary() {
        let long = "é".repeat(MAX_MESSAGE_BYTES);
        let c = condition(
            "Accepted",
            &Outcome::yes("Accepted", long),
            None,
            &[],
            &at(EARLY),
        );
        assert!(c.message.len() <= MAX_MESSAGE_BYTES);
        assert!(c.message.len() > MAX_MESSAGE_BYTES - 2);
        assert!(c.message.chars().all(|ch| ch == 'é'));
    }
}
