//! The values of the enumerated flags shared by several commands, so that every `--help` shows
//! `[possible values: ...]` and the parser refuses anything else in one line. The names are the
//! library's (`FromStr` of [`kinkgrad::pde::scheme::Scheme`], [`kinkgrad::Precision`], ...): the
//! tests below parse every one of them with the library and check that its name reads back.

use clap::builder::{PossibleValue, TypedValueParser};

/// `--scheme`: the finite-volume schemes.
pub const SCHEMES: [&str; 7] = ["upwind", "lw", "lw-minmod", "lw-superbee", "lw-mc", "lw-vanleer", "burgers-godunov"];
/// `--precision`: the floating-point formats.
pub const PRECISIONS: [&str; 4] = ["f64", "f32", "f16", "bf16"];
/// `--optimizer`.
pub const OPTIMIZERS: [&str; 2] = ["sgd", "adam"];
/// `--init`: weight initialisations.
pub const INITS: [&str; 2] = ["pytorch", "he"];

/// A comma-separated list of words from a fixed set (e.g. `--only mlp,transport`), kept as the
/// typed string; `--help` lists the words as possible values.
#[derive(Clone)]
pub struct CommaList(pub &'static [&'static str]);

impl TypedValueParser for CommaList {
    type Value = String;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<String, clap::Error> {
        let text = clap::builder::NonEmptyStringValueParser::new().parse_ref(cmd, arg, value)?;
        if let Some(bad) = text.split(',').map(str::trim).find(|w| !self.0.contains(w)) {
            let mut e = clap::Error::new(clap::error::ErrorKind::InvalidValue).with_cmd(cmd);
            use clap::error::{ContextKind, ContextValue};
            if let Some(a) = arg {
                e.insert(ContextKind::InvalidArg, ContextValue::String(a.to_string()));
            }
            e.insert(ContextKind::InvalidValue, ContextValue::String(bad.to_string()));
            e.insert(ContextKind::ValidValue, ContextValue::Strings(self.0.iter().map(|s| s.to_string()).collect()));
            return Err(e);
        }
        Ok(text)
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(self.0.iter().map(|s| PossibleValue::new(*s))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kinkgrad::nn::{Init, OptimizerKind};
    use kinkgrad::pde::scheme::Scheme;
    use kinkgrad::Precision;

    #[test]
    fn every_listed_name_is_the_librarys() {
        for s in SCHEMES {
            assert_eq!(s.parse::<Scheme>().unwrap().name(), s);
        }
        for p in PRECISIONS {
            assert_eq!(p.parse::<Precision>().unwrap().to_string(), p);
        }
        for o in OPTIMIZERS {
            assert_eq!(o.parse::<OptimizerKind>().unwrap().name(), o);
        }
        for i in INITS {
            assert!(i.parse::<Init>().is_ok(), "{i}");
        }
    }

    #[test]
    fn a_comma_list_takes_listed_words_only() {
        #[derive(clap::Parser)]
        struct Cli {
            #[arg(long, value_parser = CommaList(&["a", "b"]))]
            only: String,
        }
        use clap::Parser;
        assert_eq!(Cli::try_parse_from(["x", "--only", "a,b"]).unwrap().only, "a,b");
        let e = Cli::try_parse_from(["x", "--only", "a,c"]).err().unwrap().to_string();
        assert!(e.contains("'c'") && e.contains("possible values: a, b"), "{e}");
    }
}
