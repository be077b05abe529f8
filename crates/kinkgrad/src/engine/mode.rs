//! [`Mode`]: how a derivative treats kinks, parsed from the words front ends use.

use crate::error::{Error, Result};
use crate::lex::Directions;

/// How a gradient treats kinks.
#[derive(Clone, Debug, PartialEq)]
pub enum Mode {
    /// Associated gradient: at a kink the representation's rule picks the piece (what the frameworks do).
    Assoc,
    /// Lexicographic directional derivatives along the columns of `M` (default: identity over the
    /// inputs). The gradient is returned when `M` is square and invertible.
    Lex(Option<Directions>),
    /// Branch-locked reverse mode: pieces at kinks are chosen lexicographically along seeded random
    /// probe directions (at most `max_directions`), then ordinary reverse mode runs on them.
    Safe {
        /// Seed of the probe directions.
        seed: u64,
        /// Directions drawn at most before a surviving tie is reported.
        max_directions: usize,
    },
}

impl Default for Mode {
    /// `safe`: the project's default wherever a derivative is taken.
    fn default() -> Self {
        Mode::safe()
    }
}

impl Mode {
    /// Directions `safe` draws at most by default.
    pub const SAFE_MAX_DIRECTIONS: usize = 4;
    /// `safe` with seed 0 and up to [`Self::SAFE_MAX_DIRECTIONS`] directions.
    pub fn safe() -> Self {
        Mode::Safe { seed: 0, max_directions: Self::SAFE_MAX_DIRECTIONS }
    }
    /// The mode's name: `assoc`, `lex`, `safe`.
    pub fn name(&self) -> &'static str {
        match self {
            Mode::Assoc => "assoc",
            Mode::Lex(_) => "lex",
            Mode::Safe { .. } => "safe",
        }
    }
    /// True for the modes that resolve kinks lexicographically (`lex`, `safe`).
    pub fn locks(&self) -> bool {
        !matches!(self, Mode::Assoc)
    }
    /// A mode from its name and its options, refusing options the mode does not use: `seed` applies
    /// to `safe` only, `directions` (rows `;`, entries `,`, as in `1,0;0,1`) to `lex` only.
    ///
    /// ```
    /// use kinkgrad::Mode;
    /// assert_eq!(Mode::parse("safe", Some(5), None).unwrap(), Mode::Safe { seed: 5, max_directions: 4 });
    /// assert!(Mode::parse("assoc", Some(5), None).is_err());
    /// assert!(Mode::parse("lex", None, Some("1,0;0,1")).is_ok());
    /// assert!(Mode::parse("fast", None, None).is_err());
    /// ```
    pub fn parse(name: &str, seed: Option<u64>, directions: Option<&str>) -> Result<Self> {
        let mut mode: Mode = name.parse()?;
        match (&mut mode, seed) {
            (Mode::Safe { seed: s, .. }, Some(v)) => *s = v,
            (_, Some(_)) => {
                return Err(Error::invalid(
                    "seed",
                    format!("the seed draws safe mode's probe directions; mode {name} draws none"),
                ))
            }
            _ => {}
        }
        match (&mut mode, directions) {
            (Mode::Lex(m), Some(d)) => *m = Some(Directions::parse(d)?),
            (_, Some(_)) => {
                return Err(Error::invalid(
                    "directions",
                    format!("directions are the columns of lex mode's M; mode {name} takes none"),
                ))
            }
            _ => {}
        }
        Ok(mode)
    }
}

impl std::str::FromStr for Mode {
    type Err = Error;
    /// `assoc`, `lex` (identity directions) or `safe` (seed 0).
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "assoc" => Ok(Mode::Assoc),
            "lex" => Ok(Mode::Lex(None)),
            "safe" => Ok(Mode::safe()),
            _ => Err(Error::invalid("mode", format!("'{s}', expected assoc, lex or safe"))),
        }
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
