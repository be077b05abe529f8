//! The hybrid network's architecture: its layer sizes for a data set's source parameters, and the
//! check that a network fits a data set.

use super::data::{Dataset, SourceForm};
use super::model::HybridModel;
use crate::error::{Error, Result};
use crate::nn::{Init, Sequential};
use crate::rng::Rng;

impl HybridModel {
    /// The network's inputs for `params` source parameters: `P + 2` (alpha form: `alpha`, `sin 2 pi
    /// x`, `cos 2 pi x`) or `P + 3` (state form: `u` first).
    pub fn inputs(form: SourceForm, params: usize) -> usize {
        params + 2 + usize::from(form == SourceForm::State)
    }

    /// A seeded ReLU network of layer sizes `sizes` (`sizes[0]` inputs, see [`HybridModel::inputs`];
    /// the last size must be 1), layers `fc1`, `fc2`, ... (He initialisation).
    pub fn with_sizes(form: SourceForm, sizes: &[usize], seed: u64) -> Result<Self> {
        if sizes.len() < 2 || sizes.last() != Some(&1) || sizes.contains(&0) {
            return Err(Error::invalid("network sizes", format!("{sizes:?}: expected positive sizes ending in 1")));
        }
        let mut rng = Rng::new(seed);
        Ok(Self { net: Sequential::mlp(sizes, Init::He, &mut rng)?, form })
    }

    /// Source parameters the network takes (`P`).
    pub fn params(&self) -> usize {
        let inputs = self.net.params.first().map_or(0, |w| w.shape()[1]);
        inputs.saturating_sub(Self::inputs(self.form, 0))
    }

    /// Refuses a data set of another source form or another number of parameters than the network's.
    pub fn check_fits(&self, d: &Dataset) -> Result<()> {
        if self.form != d.source || self.params() != d.params() {
            return Err(Error::invalid(
                "hybrid model",
                format!(
                    "the network learns a '{}' source of {} parameters, the data set has a '{}' source of {}",
                    self.form.name(),
                    self.params(),
                    d.source.name(),
                    d.params()
                ),
            ));
        }
        Ok(())
    }
}
