//! The certificate that comes with every derivative: what the number is, and which kinks it met.
//!
//! | kind | meaning |
//! |---|---|
//! | `exact` | no kink was hit: f is C^1 near the point and the result is its derivative |
//! | `generalized` | kinks were hit and every one was resolved lexicographically (`lex`, `safe`): the result does not depend on the representation; it is the derivative wherever f is differentiable and an element of Clarke's generalized gradient elsewhere |
//! | `representation-dependent` | kinks were resolved by the representation's rules (`assoc`, as the frameworks do) |
//!
//! A derivative computed from recorded derivatives (a gradient of a gradient) inherits the kinks of
//! every pass it depends on; a run of many gradients (training) merges them ([`Certificate::merge`]):
//! the kind is the weakest of its parts.
//!
//! The JSON form (what every front end prints under the key `certificate`) is
//! `{"kind", "kinks": {op: count}, "kinks_total", "locked", "unresolved", "skipped", "directions",
//! "gradients", "mode", "representation"}`, plus `"warnings": [...]` when the representation's tie
//! weights are signed ([`Certificate::warnings`]); kinks are keyed `op`, or `scope/op` inside a scope.

use crate::kink::KinkLog;
use serde::ser::{Serialize, SerializeMap, SerializeStruct, Serializer};
use std::sync::Arc;

/// What a derivative is, from the strongest statement to the weakest (the order is used by
/// [`Certificate::merge`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CertificateKind {
    /// No kink was hit: f is C^1 near the point and the result is its derivative.
    Exact,
    /// Kinks were hit and resolved lexicographically: the result does not depend on the
    /// representation; it is the derivative wherever f is differentiable and an element of Clarke's
    /// generalized gradient elsewhere.
    Generalized,
    /// Kinks were resolved by the representation's rules (`assoc` mode): the result depends on the
    /// representation, as in the frameworks.
    RepresentationDependent,
}

impl CertificateKind {
    /// The name used in reports: `exact`, `generalized`, `representation-dependent`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Exact => "exact",
            Self::Generalized => "generalized",
            Self::RepresentationDependent => "representation-dependent",
        }
    }
}

impl std::fmt::Display for CertificateKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a derivative is, and where the kinks were.
#[derive(Clone, Debug, PartialEq)]
pub struct Certificate {
    /// `exact`, `generalized` or `representation-dependent`.
    pub kind: CertificateKind,
    /// The mode that produced the result: `assoc`, `lex` or `safe`.
    pub mode: &'static str,
    /// The name of the representation used for the kinks `assoc` mode resolved (shared, not
    /// copied: a training step's certificate holds the name its tape's representation was
    /// interned under, so making one allocates nothing; `&*c.representation` is the `&str`).
    pub representation: Arc<str>,
    /// Kinks hit by the evaluations the derivative went through (per scope and op).
    pub kinks: KinkLog,
    /// Kink elements whose piece was chosen lexicographically along the directions (`lex`, `safe`).
    pub locked: usize,
    /// Ties that survived every direction (`lex`, `safe`): their pieces agree along every direction
    /// drawn, and the whole weight went to the first tied piece (so the result is still exact in bits
    /// and independent of the representation, and the chosen piece is active at the point).
    pub unresolved: usize,
    /// Kinks left unlocked because their outcome cannot change the derivative (decided from forward
    /// information only, never from the representation; e.g. a pooling tie among relu outputs of
    /// strictly negative inputs, whose weights all multiply a zero derivative).
    pub skipped: usize,
    /// Directions used: columns of `M` (`lex`) or probe directions drawn (`safe`); the largest over a
    /// merged run.
    pub directions: usize,
    /// Derivative evaluations this certificate covers (1 for one gradient; a training run sums them).
    pub gradients: usize,
}

impl Certificate {
    /// An `exact` certificate without kinks for one derivative computed in `mode` under the
    /// representation named `representation`.
    pub fn exact(mode: &'static str, representation: impl Into<Arc<str>>) -> Self {
        Self {
            kind: CertificateKind::Exact,
            mode,
            representation: representation.into(),
            kinks: KinkLog::default(),
            locked: 0,
            unresolved: 0,
            skipped: 0,
            directions: 0,
            gradients: 1,
        }
    }
    /// An empty summary of a run (no derivative yet) to [`Self::merge`] derivatives into.
    pub fn run(mode: &'static str, representation: impl Into<Arc<str>>) -> Self {
        Self { gradients: 0, ..Self::exact(mode, representation) }
    }
    /// The certificate of a derivative in `mode` that met `kinks`: `exact` without kinks, else
    /// `representation-dependent` in `assoc` mode and `generalized` in `lex`/`safe`.
    pub fn for_kinks(mode: &'static str, representation: impl Into<Arc<str>>, kinks: KinkLog) -> Self {
        let kind = match (kinks.total(), mode) {
            (0, _) => CertificateKind::Exact,
            (_, "assoc") => CertificateKind::RepresentationDependent,
            _ => CertificateKind::Generalized,
        };
        Self { kind, kinks, ..Self::exact(mode, representation) }
    }
    /// Total number of kinks.
    pub fn kinks_total(&self) -> usize {
        self.kinks.total()
    }
    /// Fold `other` into this summary: kinks and counts add up, directions take the largest, and
    /// the kind becomes the weaker of the two (`exact` < `generalized` < `representation-dependent`).
    pub fn merge(&mut self, other: &Certificate) {
        self.kind = self.kind.max(other.kind);
        self.kinks.merge(&other.kinks);
        self.locked += other.locked;
        self.unresolved += other.unresolved;
        self.skipped += other.skipped;
        self.directions = self.directions.max(other.directions);
        self.gradients += other.gradients;
    }
    /// Warnings about the representation that resolved this derivative's kinks (`assoc` mode with
    /// kinks only): signed tie weights are admissible but not minimum-norm, and their norm grows
    /// with `|beta|` ([`crate::Representation::warnings`]). Empty otherwise.
    pub fn warnings(&self) -> Vec<String> {
        if self.kind != CertificateKind::RepresentationDependent {
            return Vec::new();
        }
        self.representation.parse::<crate::Representation>().map(|r| r.warnings()).unwrap_or_default()
    }
    /// Weaken the kind to at least `kind` (a derivative that depends on an earlier pass inherits it).
    pub fn weaken_to(&mut self, kind: CertificateKind) {
        self.kind = self.kind.max(kind);
    }
}

impl std::fmt::Display for Certificate {
    /// One line: `generalized (safe, minnorm): 12 kinks [relu 10, max 2], 3 locked, 0 unresolved`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}, {}): {} kinks", self.kind, self.mode, self.representation, self.kinks.total())?;
        if self.kinks.total() > 0 {
            let sites: Vec<String> = self.kinks.sites().iter().map(|s| format!("{} {}", s.key(), s.count)).collect();
            write!(f, " [{}]", sites.join(", "))?;
        }
        if self.mode != "assoc" {
            write!(f, ", {} locked, {} unresolved", self.locked, self.unresolved)?;
            if self.skipped > 0 {
                write!(f, ", {} skipped", self.skipped)?;
            }
        }
        if self.gradients != 1 {
            write!(f, ", over {} gradients", self.gradients)?;
        }
        for w in self.warnings() {
            write!(f, "; warning: {w}")?;
        }
        Ok(())
    }
}

/// The kink counts as a JSON object `{op or scope/op: count}`.
struct KinkMap<'a>(&'a KinkLog);

impl Serialize for KinkMap<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let sites = self.0.sites();
        let mut m = s.serialize_map(Some(sites.len()))?;
        for site in &sites {
            m.serialize_entry(&site.key(), &site.count)?;
        }
        m.end()
    }
}

impl Serialize for Certificate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let warnings = self.warnings();
        let mut st = s.serialize_struct("Certificate", 11)?;
        st.serialize_field("kind", self.kind.as_str())?;
        st.serialize_field("kinks", &KinkMap(&self.kinks))?;
        st.serialize_field("kinks_total", &self.kinks.total())?;
        st.serialize_field("locked", &self.locked)?;
        st.serialize_field("unresolved", &self.unresolved)?;
        st.serialize_field("skipped", &self.skipped)?;
        st.serialize_field("directions", &self.directions)?;
        st.serialize_field("gradients", &self.gradients)?;
        st.serialize_field("mode", self.mode)?;
        st.serialize_field("representation", &*self.representation)?;
        if !warnings.is_empty() {
            st.serialize_field("warnings", &warnings)?;
        }
        st.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_takes_the_weakest_kind_and_sums_the_counts() {
        let mut run = Certificate::run("safe", "minnorm");
        assert_eq!(run.gradients, 0);
        run.merge(&Certificate::exact("safe", "minnorm"));
        assert_eq!(run.kind, CertificateKind::Exact);
        let mut k = KinkLog::default();
        k.add("fc1", "relu", 3);
        let mut g = Certificate::for_kinks("safe", "minnorm", k);
        g.locked = 3;
        g.directions = 2;
        run.merge(&g);
        assert_eq!(run.kind, CertificateKind::Generalized);
        assert_eq!((run.locked, run.kinks_total(), run.directions, run.gradients), (3, 3, 2, 2));
        let mut k = KinkLog::default();
        k.add("", "max", 1);
        run.merge(&Certificate::for_kinks("assoc", "minnorm", k));
        assert_eq!(run.kind, CertificateKind::RepresentationDependent);
        assert_eq!(run.kinks.count("fc1", "relu"), 3);
    }

    #[test]
    fn display_is_one_line() {
        let mut k = KinkLog::default();
        k.add("", "relu", 2);
        let c = Certificate::for_kinks("assoc", "pytorch", k);
        assert_eq!(c.to_string(), "representation-dependent (assoc, pytorch): 2 kinks [relu 2]");
    }

    /// The JSON contract of every front end (issue 10): kind, kinks per op (scope/op), total, counts,
    /// mode and representation.
    #[test]
    fn json_shape() {
        let mut k = KinkLog::default();
        k.add("", "relu", 2);
        k.add("scheme", "transport-loop", 5);
        let mut c = Certificate::for_kinks("safe", "pytorch", k);
        c.locked = 7;
        c.unresolved = 1;
        c.directions = 2;
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "kind": "generalized", "kinks": {"relu": 2, "scheme/transport-loop": 5}, "kinks_total": 7,
                "locked": 7, "unresolved": 1, "skipped": 0, "directions": 2, "gradients": 1,
                "mode": "safe", "representation": "pytorch"
            })
        );
    }
}
