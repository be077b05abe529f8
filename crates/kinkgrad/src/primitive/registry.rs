//! The registry of primitives and of their kink families.
//!
//! The generic tests in `tests/` iterate over [`all`], so every element-wise primitive registered
//! here is checked by finite differences on each of its pieces, by the dot-product test, at its
//! kinks, and for representation independence of `lex` and `safe`. Window primitives (max
//! reductions, pooling) and sort are checked by their own generic tests.
//!
//! The kink families ([`families`]) come from the primitives' own declarations
//! ([`Piecewise::family`] and the window ops' constants): the presets of [`Representation`] are
//! assembled from them here, so a new primitive brings its own row to every preset and to the
//! conventions table.

use super::abs::Abs;
use super::clamp::{Clamp, HardTanh};
use super::leaky::LeakyRelu;
use super::maxmin::MaxMin2;
use super::minmod::Minmod;
use super::relu::Relu;
use super::Piecewise;
use crate::error::{Error, Result};
use crate::repr::{Family, KinkRule, Representation, TieRule, FRAMEWORKS};

/// Every element-wise piecewise primitive, one line each.
pub fn all() -> Vec<Box<dyn Piecewise>> {
    vec![
        Box::new(Relu),
        Box::new(LeakyRelu(0.01)),
        Box::new(Abs),
        Box::new(Clamp),
        Box::new(HardTanh),
        Box::new(MaxMin2 { min: false, rule: None }),
        Box::new(MaxMin2 { min: true, rule: None }),
        Box::new(Minmod),
        Box::new(super::superbee::Superbee),
        Box::new(super::mc::Mc),
        Box::new(super::upwind::Upwind),
        Box::new(super::godunov::Godunov),
        Box::new(super::softshrink::Softshrink(1.0)),
    ]
}

/// Families of the ops that are not element-wise primitives (windows, sort, fluxes), one line each.
const OTHER_FAMILIES: [&Family; 5] =
    [&super::pool::MAX_REDUCE, &super::pool::MAX_AXIS, &super::pool::MAXPOOL, &super::sort::SORT, &super::flux::FLUX];

/// Every family of kinks, each once: those of the registered primitives in registry order, then
/// the window ops', sort's and the fluxes'.
pub fn families() -> Vec<&'static Family> {
    let mut out: Vec<&'static Family> = Vec::new();
    for f in all().iter().map(|p| p.family()).chain(OTHER_FAMILIES) {
        if !out.iter().any(|g| g.key == f.key) {
            out.push(f);
        }
    }
    out
}

/// The family with key `key`.
pub fn family(key: &str) -> Result<&'static Family> {
    let fams = families();
    fams.iter().find(|f| f.key == key).copied().ok_or_else(|| {
        let keys: Vec<&str> = fams.iter().map(|f| f.key).collect();
        Error::invalid("kink family", format!("'{key}', expected one of {}", keys.join(", ")))
    })
}

/// The markdown table of every family under every preset (embedded in `docs/conventions.md`
/// between the markers `<!-- conventions_table: begin -->` and `<!-- conventions_table: end -->`; a
/// test keeps it current). One row per family: what is decided, the primitives that declare it,
/// each framework preset's rule and the minimum-norm rule; then the notes of the declared
/// conventions. A preset without a declared convention uses the minimum-norm rule (marked `*`).
pub fn conventions_table() -> String {
    let prims = all();
    let mut s = String::from("| family | decides | primitives |");
    for fw in FRAMEWORKS {
        s += &format!(" `{fw}()` |");
    }
    s += " `minnorm()` |\n|---|---|---|";
    s += &"---|".repeat(FRAMEWORKS.len() + 1);
    s += "\n";
    for f in families() {
        let names: Vec<String> =
            prims.iter().filter(|p| p.family().key == f.key).map(|p| format!("`{}`", p.name())).collect();
        let names = if names.is_empty() { "(window ops, sort, fluxes)".to_string() } else { names.join(", ") };
        s += &format!("| `{}` | {} | {names} |", f.key, f.what);
        for fw in FRAMEWORKS {
            let declared = f.conventions.iter().any(|c| c.framework == fw);
            s += &format!(" `{}`{} |", f.convention(fw).to_kink_rule(), if declared { "" } else { "*" });
        }
        s += &format!(" `{}` |\n", f.minnorm.to_kink_rule());
    }
    s += "\n`*`: no convention declared (the framework has no such op, or its rule was not read from source); the preset uses the minimum-norm rule.\n\nNotes (where each convention was read; the quotes are below):\n\n";
    for f in families() {
        for c in f.conventions {
            s += &format!("- `{}`, {}: {}\n", f.key, c.framework, c.note);
        }
    }
    s
}

impl Representation {
    /// PyTorch's conventions (every family's declared `pytorch` rule).
    pub fn pytorch() -> Self {
        Self::framework("pytorch")
    }
    /// JAX's conventions.
    pub fn jax() -> Self {
        Self::framework("jax")
    }
    /// TensorFlow's conventions.
    pub fn tensorflow() -> Self {
        Self::framework("tensorflow")
    }
    fn framework(name: &'static str) -> Self {
        let mut rep = Representation::named(name);
        for f in families() {
            rep.set(f, f.convention(name).to_kink_rule()).expect("a declared convention fits its family");
        }
        rep
    }
    /// A preset by name: `minnorm`, `pytorch`, `jax`, `tensorflow`.
    pub fn preset(name: &str) -> Result<Self> {
        match name {
            "minnorm" => Ok(Self::minnorm()),
            _ if FRAMEWORKS.contains(&name) => Ok(Self::framework(FRAMEWORKS.iter().find(|f| **f == name).unwrap())),
            _ => Err(Error::invalid("convention", format!("'{name}', expected minnorm, pytorch, jax or tensorflow"))),
        }
    }
    /// Set every tie-rule family at once (the command line's `--max-ties`).
    pub fn with_all_ties(mut self, rule: TieRule) -> Self {
        for f in families().into_iter().filter(|f| f.value_range.is_none()) {
            self.set(f, KinkRule::Ties(rule.clone())).expect("a tie rule fits a tie family");
        }
        self.rename_with(&format!("ties={rule}"));
        self
    }
    /// Set `relu'(0)`.
    pub fn with_relu_at_zero(mut self, z: f64) -> Self {
        self.set(&super::relu::RELU, KinkRule::Value(z)).expect("relu'(0) may be any finite real");
        self.rename_with(&format!("relu={z}"));
        self
    }
    fn rename_with(&mut self, tag: &str) {
        self.name = match self.name.strip_suffix(']') {
            Some(base) => format!("{base},{tag}]"),
            None => format!("{}[{tag}]", self.name),
        };
    }
    /// The representation a front end's options describe: a preset (`convention`), then `relu'(0)`,
    /// one tie rule for every tie family, and per-family overrides `family=rule,...` (a tie rule
    /// such as `first` or `weighted:1,2` for a tie family, a number for a number-valued one), in
    /// that order.
    ///
    /// ```
    /// use kinkgrad::Representation;
    /// let r = Representation::from_options("pytorch", Some(0.5), None, Some("maxpool=mean")).unwrap();
    /// assert_eq!(r.name, "pytorch[relu=0.5,maxpool=mean]");
    /// assert!(Representation::from_options("pytorch", None, None, Some("abs=3")).is_err());
    /// assert!(Representation::from_options("pytorch", None, None, Some("relu=first")).is_err());
    /// ```
    pub fn from_options(
        convention: &str,
        relu_at_zero: Option<f64>,
        ties: Option<&str>,
        overrides: Option<&str>,
    ) -> Result<Self> {
        let mut rep = Self::preset(convention)?;
        if let Some(z) = relu_at_zero {
            if !z.is_finite() {
                return Err(Error::invalid("relu'(0)", format!("{z}: expected a finite number")));
            }
            rep = rep.with_relu_at_zero(z);
        }
        if let Some(t) = ties {
            rep = rep.with_all_ties(t.parse()?);
        }
        for item in overrides.iter().flat_map(|o| split_overrides(o)) {
            let (key, val) = item.split_once('=').ok_or_else(|| {
                Error::invalid("kink rule", format!("'{item}': expected family=rule, e.g. maxpool=first"))
            })?;
            let fam = family(key.trim())?;
            let val = val.trim();
            let rule = match fam.value_range {
                Some(_) => KinkRule::Value(val.parse::<f64>().map_err(|_| {
                    Error::invalid(format!("kink rule for {}", fam.key), format!("'{val}': {} is a number", fam.what))
                })?),
                None => KinkRule::Ties(val.parse()?),
            };
            rep = rep.with(fam, rule)?;
        }
        Ok(rep)
    }
}

/// Split `a=first,b=weighted:1,2,c=0.5` at the commas that start a new `family=` item (the
/// weights of `weighted:` contain commas).
fn split_overrides(s: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for part in s.split(',') {
        match out.last_mut() {
            Some(last) if !part.contains('=') => {
                last.push(',');
                last.push_str(part);
            }
            _ => out.push(part.to_string()),
        }
    }
    out.into_iter().filter(|p| !p.trim().is_empty()).collect()
}

impl std::str::FromStr for Representation {
    type Err = Error;
    /// A preset name, optionally followed by overrides in brackets, as certificates print it:
    /// `pytorch`, `minnorm[relu=1]`, `jax[maxpool=mean,abs=0]`.
    fn from_str(s: &str) -> Result<Self> {
        match s.split_once('[') {
            None => Self::preset(s.trim()),
            Some((base, rest)) => {
                let inner = rest.strip_suffix(']').ok_or_else(|| {
                    Error::invalid("representation", format!("'{s}': expected preset[family=rule,...]"))
                })?;
                // `ties=` sets every tie family; other keys are families
                let mut ties = None;
                let mut fams = Vec::new();
                for item in split_overrides(inner) {
                    match item.split_once('=') {
                        Some(("ties", v)) => ties = Some(v.to_string()),
                        _ => fams.push(item),
                    }
                }
                let overrides = fams.join(",");
                Self::from_options(base.trim(), None, ties.as_deref(), Some(&overrides))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_are_unique_and_presets_follow_their_declarations() {
        let fams = families();
        for (i, f) in fams.iter().enumerate() {
            assert!(fams[i + 1..].iter().all(|g| g.key != f.key), "duplicate family {}", f.key);
            for fw in FRAMEWORKS {
                let rep = Representation::preset(fw).unwrap();
                assert_eq!(rep.rule(f), f.convention(fw).to_kink_rule(), "{fw} {}", f.key);
            }
            assert_eq!(Representation::minnorm().rule(f), f.minnorm.to_kink_rule());
        }
    }

    #[test]
    fn names_round_trip() {
        for s in ["pytorch", "minnorm[relu=1]", "jax[maxpool=mean,abs=0]", "minnorm[ties=weighted:1,2]"] {
            let r: Representation = s.parse().unwrap();
            let again: Representation = r.name.parse().unwrap();
            assert_eq!(r, again, "{s}");
        }
        assert!("torch".parse::<Representation>().is_err());
        assert!("pytorch[relu=x]".parse::<Representation>().is_err());
    }
}
