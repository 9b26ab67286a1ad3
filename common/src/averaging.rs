//! Polyak (exponential moving) averaging of the trained weights. With a decay `d`, after every
//! update each averaged tensor becomes `d · average + (1 − d) · trained`. The average is the
//! policy that samples, is published to actors, is evaluated and is loaded by `gfn sample`;
//! the optimizer keeps training the raw weights. recursionpharma/gflownet calls the same idea
//! `sampling_tau`. It smooths the iterate noise of Adam at a constant learning rate, which at
//! batch 16 moves the exact L1 of a single evaluation by ±0.03 from one update to the next.

use tch::nn;

/// The averaged copy of a [`nn::VarStore`]'s variables.
pub struct WeightAverage {
    decay: f64,
    averaged: nn::VarStore,
}

impl WeightAverage {
    /// Starts the average at the current values of `trained`'s variables. `averaged` must hold
    /// variables of the same names and shapes (the caller builds the same network in it).
    ///
    /// # Panics
    /// If `decay` is outside `(0, 1)` (configuration validation rules that out) or the two
    /// stores do not have the same variables.
    pub fn new(decay: f64, trained: &nn::VarStore, averaged: nn::VarStore) -> Self {
        assert!(decay > 0.0 && decay < 1.0, "averaging decay must lie in (0, 1), got {decay}");
        let average = Self { decay, averaged };
        average.reset_to(trained);
        average
    }

    /// The decay per update.
    pub fn decay(&self) -> f64 {
        self.decay
    }

    /// The store holding the averaged variables.
    pub fn store(&self) -> &nn::VarStore {
        &self.averaged
    }

    /// Moves the average one step towards `trained`'s current values.
    pub fn update(&self, trained: &nn::VarStore) {
        let _no_grad = tch::no_grad_guard();
        let sources = trained.variables();
        for (name, mut average) in self.averaged.variables() {
            let source = &sources[&name];
            let _ = average.lerp_(source, 1.0 - self.decay);
        }
    }

    /// Sets the average to `trained`'s current values.
    pub fn reset_to(&self, trained: &nn::VarStore) {
        let _no_grad = tch::no_grad_guard();
        let sources = trained.variables();
        let averaged = self.averaged.variables();
        assert_eq!(sources.len(), averaged.len(), "averaged and trained stores differ");
        for (name, mut average) in averaged {
            average.copy_(&sources[&name]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind, Tensor};

    fn store(value: f64) -> nn::VarStore {
        let vs = nn::VarStore::new(Device::Cpu);
        let _ = vs.root().var("w", &[2], nn::Init::Const(value));
        vs
    }

    fn value(vs: &nn::VarStore) -> Vec<f64> {
        Vec::<f64>::try_from(vs.variables()["w"].to_kind(Kind::Double)).unwrap()
    }

    #[test]
    fn average_starts_at_the_trained_values_and_moves_geometrically() {
        let trained = store(1.0);
        let average = WeightAverage::new(0.9, &trained, store(-5.0));
        assert_eq!(value(average.store()), [1.0, 1.0]);
        tch::no_grad(|| trained.variables()["w"].shallow_clone().copy_(&Tensor::from_slice(&[3.0f32, 11.0])));
        average.update(&trained);
        // 0.9·1 + 0.1·3 = 1.2 and 0.9·1 + 0.1·11 = 2.0
        let after_one = value(average.store());
        assert!((after_one[0] - 1.2).abs() < 1e-6 && (after_one[1] - 2.0).abs() < 1e-6, "{after_one:?}");
        for _ in 0..199 {
            average.update(&trained);
        }
        // After n steps the gap to a constant target is 0.9^n of the starting gap.
        let expected = 3.0 - 2.0 * 0.9f64.powi(200);
        assert!((value(average.store())[0] - expected).abs() < 1e-5);
    }

    #[test]
    #[should_panic(expected = "decay must lie in (0, 1)")]
    fn decay_of_one_is_refused() {
        let trained = store(0.0);
        WeightAverage::new(1.0, &trained, store(0.0));
    }
}
