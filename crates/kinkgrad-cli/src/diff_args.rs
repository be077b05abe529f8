//! The argument group shared by every command that differentiates (`grad`, `transport --grad`,
//! `train`, `ritz`, `hybrid train`, `hybrid eval`): the mode and the representation.
//!
//! The group only carries the words the user typed; [`Mode::parse`] and
//! [`Representation::from_options`] turn them into the library's values (and refuse what they do not
//! accept, e.g. `--seed` outside `safe`). The defaults are the library's: [`Mode::default`] (`safe`)
//! and [`Representation::default`] (`minnorm`). A command that cannot honour a value gets a typed
//! error from the library path that cannot serve it; the CLI only prints it.

use kinkgrad::{Mode, Representation};

/// How derivatives treat kinks: the mode and the representation.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct DiffArgs {
    /// Derivative mode: assoc (an associated gradient: the representation's pieces at kinks, as the
    /// frameworks), lex (lexicographic directional derivatives, the oracle), safe (branch-locked
    /// reverse mode: independent of the representation). Default: safe.
    #[arg(long, value_name = "MODE", value_parser = ["assoc", "lex", "safe"])]
    pub mode: Option<String>,
    /// Representation preset at kinks (what assoc does there). Default: minnorm.
    #[arg(long, value_name = "PRESET", value_parser = ["minnorm", "pytorch", "jax", "tensorflow"])]
    pub convention: Option<String>,
    /// relu'(0) = Z (any finite real), overriding the preset.
    #[arg(long, value_name = "Z", allow_hyphen_values = true)]
    pub relu_at_zero: Option<f64>,
    /// One tie rule for every tie family (max, pooling, sort, limiters, fluxes), overriding the preset:
    /// first, last, mean, minnorm, weighted:W1,W2,..., beta:B or signed:W1,W2,... (summing to 1)
    #[arg(long, value_name = "RULE")]
    pub max_ties: Option<String>,
    /// Per-family kink rules, applied last: FAMILY=RULE,... (a tie rule for a tie family, a number
    /// for relu-like ones), e.g. maxpool=first,relu=0.5.
    #[arg(long, value_name = "FAMILY=RULE,...", long_help = kink_rule_help())]
    pub kink_rule: Option<String>,
    /// safe mode only: seed of the probe directions. Default: 0.
    #[arg(long, value_name = "S")]
    pub seed: Option<u64>,
}

/// lex mode's direction matrix, for the commands whose lex path takes one.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct LexArgs {
    /// lex mode only: direction matrix M, one row per input (variables sorted by name), rows
    /// separated by ';', entries by ',' (e.g. '1,0;0,1'). Default: the identity.
    #[arg(long, value_name = "M", allow_hyphen_values = true)]
    pub directions: Option<String>,
}

fn kink_rule_help() -> String {
    let fams: Vec<String> =
        kinkgrad::primitive::registry::families().iter().map(|f| format!("  {:<12} {}", f.key, f.what)).collect();
    format!(
        "Per-family kink rules, applied last: FAMILY=RULE,... (a tie rule -- first, last, mean, minnorm, \
         weighted:W1,W2,..., beta:B (Boustany's signed family), signed:W1,W2,... summing to 1 -- for a tie family, a number for a number-valued one), e.g. \
         maxpool=first,relu=0.5. Families:\n{}",
        fams.join("\n")
    )
}

impl DiffArgs {
    /// The mode (the library's default when `--mode` is not given), with `--seed`.
    pub fn mode(&self) -> kinkgrad::Result<Mode> {
        self.mode_with(None)
    }
    /// The mode with lex's direction matrix (refused by the library outside lex).
    pub fn mode_with(&self, directions: Option<&str>) -> kinkgrad::Result<Mode> {
        let default = Mode::default();
        Mode::parse(self.mode.as_deref().unwrap_or(default.name()), self.seed, directions)
    }
    /// The representation: the preset, then relu'(0), the tie rule of every tie family and the
    /// per-family overrides.
    pub fn representation(&self) -> kinkgrad::Result<Representation> {
        let default = Representation::default();
        Representation::from_options(
            self.convention.as_deref().unwrap_or(&default.name),
            self.relu_at_zero,
            self.max_ties.as_deref(),
            self.kink_rule.as_deref(),
        )
    }
    /// Both, as one error string for the commands that report `String` errors.
    pub fn build(&self) -> Result<(Mode, Representation), String> {
        Ok((self.mode().map_err(|e| e.to_string())?, self.representation().map_err(|e| e.to_string())?))
    }
    /// The first flag of the group that was given, for a command path that takes no derivative
    /// (which refuses it rather than ignore it).
    pub fn first_given(&self) -> Option<&'static str> {
        [
            (self.mode.is_some(), "--mode"),
            (self.convention.is_some(), "--convention"),
            (self.relu_at_zero.is_some(), "--relu-at-zero"),
            (self.max_ties.is_some(), "--max-ties"),
            (self.kink_rule.is_some(), "--kink-rule"),
            (self.seed.is_some(), "--seed"),
        ]
        .into_iter()
        .find_map(|(given, name)| given.then_some(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        d: DiffArgs,
        #[command(flatten)]
        l: LexArgs,
    }

    fn parse(args: &[&str]) -> Cli {
        let mut v = vec!["x"];
        v.extend_from_slice(args);
        Cli::try_parse_from(v).unwrap()
    }

    #[test]
    fn defaults_are_the_librarys() {
        let c = parse(&[]);
        assert_eq!(c.d.mode().unwrap(), Mode::default());
        assert_eq!(c.d.representation().unwrap(), Representation::default());
        assert_eq!(c.d.first_given(), None);
    }

    #[test]
    fn the_library_parses_and_refuses() {
        let c = parse(&["--mode", "safe", "--seed", "7", "--convention", "pytorch", "--kink-rule", "maxpool=first"]);
        assert_eq!(c.d.mode().unwrap(), Mode::parse("safe", Some(7), None).unwrap());
        assert_eq!(c.d.representation().unwrap().name, "pytorch[maxpool=first]");
        assert_eq!(c.d.first_given(), Some("--mode"));
        // seed outside safe, directions outside lex: refused by Mode::parse
        assert!(parse(&["--mode", "assoc", "--seed", "1"]).d.mode().unwrap_err().to_string().contains("seed"));
        let c = parse(&["--directions", "1"]);
        assert!(c.d.mode_with(c.l.directions.as_deref()).unwrap_err().to_string().contains("directions"));
        let c = parse(&["--mode", "lex", "--directions=-1"]);
        assert!(c.d.mode_with(c.l.directions.as_deref()).is_ok());
        assert!(parse(&["--kink-rule", "nosuch=first"]).d.representation().is_err());
        assert!(parse(&["--relu-at-zero=-0.5"]).d.representation().unwrap().name.contains("relu=-0.5"));
    }

    #[test]
    fn unknown_mode_is_a_usage_error() {
        assert!(Cli::try_parse_from(["x", "--mode", "fast"]).is_err());
    }
}
