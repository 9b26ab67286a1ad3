//! Adam (Kingma & Ba 2015) over a tch `VarStore`, with its state exposed for checkpoints.
//!
//! tch's built-in optimizers keep their moment estimates inside libtorch where they cannot be
//! saved, so a resumed run would restart Adam from zero. This implementation keeps the first
//! and second moments as named tensors that [`crate::checkpoint`] writes next to the weights.

use tch::{Tensor, nn};

use crate::weights::LoadError;

/// Adam hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamConfig {
    /// Learning rate.
    pub learning_rate: f64,
    /// Decay of the first moment.
    pub beta1: f64,
    /// Decay of the second moment.
    pub beta2: f64,
    /// Added to the denominator.
    pub epsilon: f64,
}

impl AdamConfig {
    /// PyTorch's defaults with the given learning rate.
    pub fn with_learning_rate(learning_rate: f64) -> Self {
        Self { learning_rate, beta1: 0.9, beta2: 0.999, epsilon: 1e-8 }
    }
}

/// Adam over every trainable variable of a `VarStore`.
///
/// The moments of all parameters live in two flat buffers (each parameter's moments are views
/// into them), so that a step is a handful of whole-buffer operations plus one in-place update
/// per parameter, instead of a dozen small operations per parameter: the per-operation
/// overhead dominates for the small networks trained here (docs/BENCHMARKS.md).
#[derive(Debug)]
pub struct Adam {
    config: AdamConfig,
    names: Vec<String>,
    parameters: Vec<Tensor>,
    first_moments: Vec<Tensor>,
    second_moments: Vec<Tensor>,
    /// Learning rate of each parameter (the configured one unless overridden).
    learning_rates: Vec<f64>,
    steps: u64,
    flat: FlatState,
}

/// The flat buffers behind the moments, and each parameter's learning rate spread flat.
#[derive(Debug)]
struct FlatState {
    first: Tensor,
    second: Tensor,
    learning_rates: Tensor,
    /// `(offset, length)` of each parameter in the buffers.
    spans: Vec<(i64, i64)>,
    /// The last step's update of every parameter (float32 steps), reused across steps.
    update: Option<Tensor>,
}

impl FlatState {
    fn learning_rates(spans: &[(i64, i64)], rates: &[f64], like: &Tensor) -> Tensor {
        let parts: Vec<Tensor> = spans
            .iter()
            .zip(rates)
            .map(|(&(_, length), &rate)| Tensor::full([length], rate, (like.kind(), like.device())))
            .collect();
        if parts.is_empty() { like.zeros_like() } else { Tensor::cat(&parts, 0) }
    }
}

impl Adam {
    /// An optimizer over the variables of `vs`, with zero moments.
    pub fn new(vs: &nn::VarStore, config: AdamConfig) -> Self {
        let mut named: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
        named.sort_by(|a, b| a.0.cmp(&b.0));
        let (names, parameters): (Vec<String>, Vec<Tensor>) = named.into_iter().unzip();
        let mut spans = Vec::with_capacity(parameters.len());
        let mut total = 0i64;
        for p in &parameters {
            spans.push((total, p.numel() as i64));
            total += p.numel() as i64;
        }
        let (kind, device) =
            parameters.first().map_or((tch::Kind::Float, vs.device()), |p| (p.kind(), p.device()));
        let first = Tensor::zeros([total], (kind, device));
        let second = Tensor::zeros([total], (kind, device));
        let views = |flat: &Tensor| -> Vec<Tensor> {
            parameters
                .iter()
                .zip(&spans)
                .map(|(p, &(offset, length))| flat.narrow(0, offset, length).view(p.size().as_slice()))
                .collect()
        };
        let (first_moments, second_moments) = (views(&first), views(&second));
        let learning_rates = vec![config.learning_rate; names.len()];
        let flat_rates = FlatState::learning_rates(&spans, &learning_rates, &first);
        let flat = FlatState { first, second, learning_rates: flat_rates, spans, update: None };
        Self { config, names, parameters, first_moments, second_moments, learning_rates, steps: 0, flat }
    }

    /// Gives the parameter named `name` its own learning rate (e.g. trajectory balance's
    /// `log Z`); returns whether such a parameter exists.
    pub fn set_learning_rate(&mut self, name: &str, learning_rate: f64) -> bool {
        match self.names.iter().position(|n| n == name) {
            Some(i) => {
                self.learning_rates[i] = learning_rate;
                self.flat.learning_rates =
                    FlatState::learning_rates(&self.flat.spans, &self.learning_rates, &self.flat.first);
                true
            }
            None => false,
        }
    }

    /// Number of steps taken (for bias correction).
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Clears the gradients of every parameter.
    pub fn zero_grad(&mut self) {
        for p in &mut self.parameters {
            p.zero_grad();
        }
    }

    /// `loss.backward()` followed by one Adam step, unless the loss or a gradient is NaN or
    /// infinite: then nothing changes (weights and moments keep their last good values) and
    /// `false` is returned.
    pub fn backward_step(&mut self, loss: &Tensor) -> bool {
        self.zero_grad();
        if !loss.double_value(&[]).is_finite() {
            return false;
        }
        loss.backward();
        let Some(gradient) = self.flat_gradient() else {
            // some parameter got no gradient: the per-parameter path skips it
            if !self.gradients_are_finite() {
                self.zero_grad();
                return false;
            }
            self.step();
            return true;
        };
        let finite = {
            let _no_grad = tch::no_grad_guard();
            if gradient.kind() == tch::Kind::Float {
                // One pass: a double-precision sum of float32 values cannot overflow (at most
                // 3.4e38 per element), so it is finite exactly when every element is. The
                // `isfinite().all()` below takes five passes and was ~9 % of a small update.
                gradient.sum(tch::Kind::Double).double_value(&[]).is_finite()
            } else {
                gradient.isfinite().all().int64_value(&[]) == 1
            }
        };
        if !finite {
            self.zero_grad();
            return false;
        }
        self.flat_step(&gradient);
        true
    }

    /// Every parameter's gradient in one flat tensor, or `None` if one is undefined.
    fn flat_gradient(&self) -> Option<Tensor> {
        let _no_grad = tch::no_grad_guard();
        let gradients: Option<Vec<Tensor>> = self
            .parameters
            .iter()
            .map(|p| {
                let g = p.grad();
                g.defined().then(|| g.reshape([-1]))
            })
            .collect();
        let gradients = gradients?;
        if gradients.is_empty() {
            return None;
        }
        Some(Tensor::cat(&gradients, 0))
    }

    /// The Adam step on the flat buffers, from the flat gradient of every parameter.
    fn flat_step(&mut self, gradient: &Tensor) {
        let _no_grad = tch::no_grad_guard();
        self.steps += 1;
        let AdamConfig { beta1, beta2, epsilon, .. } = self.config;
        let bias_correction1 = 1.0 - beta1.powi(self.steps as i32);
        let bias_correction2_sqrt = (1.0 - beta2.powi(self.steps as i32)).sqrt();
        let FlatState { first, second, learning_rates, spans, update } = &mut self.flat;
        let fused = update.get_or_insert_with(|| first.empty_like());
        let coefficients =
            AdamCoefficients { beta1, beta2, epsilon, bias_correction1, bias_correction2_sqrt };
        let update = if fused_float32_step(first, second, learning_rates, gradient, fused, coefficients) {
            fused.shallow_clone()
        } else {
            let _ = first.lerp_(gradient, 1.0 - beta1);
            let _ = second.g_mul_scalar_(beta2);
            let _ = second.addcmul_(&(gradient * (1.0 - beta2)), gradient);
            let mut denominator = second.sqrt();
            let _ = denominator.g_div_scalar_(bias_correction2_sqrt).g_add_scalar_(epsilon);
            (&*first * &*learning_rates / denominator) * (1.0 / bias_correction1)
        };
        for (p, &(offset, length)) in self.parameters.iter_mut().zip(spans.iter()) {
            let _ = p.g_sub_(&update.narrow(0, offset, length).view(p.size().as_slice()));
        }
    }

    /// Whether every defined gradient is finite (one reduction, one synchronisation).
    fn gradients_are_finite(&self) -> bool {
        let _no_grad = tch::no_grad_guard();
        let sums: Vec<Tensor> = self
            .parameters
            .iter()
            .map(|p| p.grad())
            .filter(Tensor::defined)
            .map(|g| g.abs().sum(tch::Kind::Double))
            .collect();
        sums.is_empty() || Tensor::stack(&sums, 0).sum(tch::Kind::Double).double_value(&[]).is_finite()
    }

    /// One Adam update from the current gradients.
    pub fn step(&mut self) {
        let _no_grad = tch::no_grad_guard();
        self.steps += 1;
        let AdamConfig { beta1, beta2, epsilon, .. } = self.config;
        let bias_correction1 = 1.0 - beta1.powi(self.steps as i32);
        let bias_correction2_sqrt = (1.0 - beta2.powi(self.steps as i32)).sqrt();
        for (((p, m), v), learning_rate) in self
            .parameters
            .iter_mut()
            .zip(&mut self.first_moments)
            .zip(&mut self.second_moments)
            .zip(&self.learning_rates)
        {
            let step_size = learning_rate / bias_correction1;
            let grad = p.grad();
            if !grad.defined() {
                continue;
            }
            let _ = m.lerp_(&grad, 1.0 - beta1);
            let _ = v.g_mul_scalar_(beta2);
            let _ = v.addcmul_(&(&grad * (1.0 - beta2)), &grad);
            let mut denominator = v.sqrt();
            let _ = denominator.g_div_scalar_(bias_correction2_sqrt).g_add_scalar_(epsilon);
            let _ = p.addcdiv_(&(&*m * -step_size), &denominator);
        }
    }

    /// The optimizer state as named tensors (`adam.m.<param>`, `adam.v.<param>`, `adam.steps`).
    pub fn state(&self) -> Vec<(String, Tensor)> {
        let mut state = Vec::with_capacity(2 * self.names.len() + 1);
        for (name, (m, v)) in self.names.iter().zip(self.first_moments.iter().zip(&self.second_moments)) {
            state.push((format!("adam.m.{name}"), m.shallow_clone()));
            state.push((format!("adam.v.{name}"), v.shallow_clone()));
        }
        state.push(("adam.steps".into(), Tensor::from_slice(&[self.steps as i64])));
        state
    }

    /// Restores the state written by [`Adam::state`]; fails naming the first missing or
    /// mis-shaped tensor.
    pub fn load_state(&mut self, lookup: impl Fn(&str) -> Option<Tensor>) -> Result<(), LoadError> {
        let _no_grad = tch::no_grad_guard();
        for (i, name) in self.names.iter().enumerate() {
            for (prefix, target) in
                [("adam.m", &mut self.first_moments[i]), ("adam.v", &mut self.second_moments[i])]
            {
                let key = format!("{prefix}.{name}");
                let tensor = LoadError::check(&key, lookup(&key), &target.size())?;
                target.copy_(&tensor);
            }
        }
        let steps = lookup("adam.steps").ok_or_else(|| LoadError::Missing { name: "adam.steps".into() })?;
        self.steps = steps.int64_value(&[0]).max(0) as u64;
        Ok(())
    }
}

/// The scalars of one Adam step.
#[derive(Debug, Clone, Copy)]
struct AdamCoefficients {
    beta1: f64,
    beta2: f64,
    epsilon: f64,
    bias_correction1: f64,
    bias_correction2_sqrt: f64,
}

/// One pass of Adam over float32 buffers: updates the moments `first` and `second` in place and
/// writes each element's step (to subtract from the parameter) into `update`; the same
/// arithmetic, element by element, as the whole-buffer tensor operations it replaces (eleven
/// passes over the buffers and five temporaries of their size, the largest part of a small
/// update's optimizer time). Returns `false`, touching nothing, unless all five are contiguous
/// float32 CPU tensors of one length.
fn fused_float32_step(
    first: &mut Tensor,
    second: &mut Tensor,
    learning_rates: &Tensor,
    gradient: &Tensor,
    update: &mut Tensor,
    c: AdamCoefficients,
) -> bool {
    let n = first.numel();
    let usable = |t: &Tensor| {
        t.kind() == tch::Kind::Float && t.device() == tch::Device::Cpu && t.is_contiguous() && t.numel() == n
    };
    if ![&*first, &*second, learning_rates, gradient, &*update].into_iter().all(usable) {
        return false;
    }
    // SAFETY: the five tensors are contiguous float32 CPU buffers of `n` elements (checked
    // above) and distinct allocations (the moments, the learning rates and the update buffer
    // are owned by the optimizer, the gradient is a fresh concatenation), so the slices are
    // valid and do not alias; no other thread touches them during the step.
    let (m, v, lr, g, out) = unsafe {
        (
            std::slice::from_raw_parts_mut(first.data_ptr() as *mut f32, n),
            std::slice::from_raw_parts_mut(second.data_ptr() as *mut f32, n),
            std::slice::from_raw_parts(learning_rates.data_ptr() as *const f32, n),
            std::slice::from_raw_parts(gradient.data_ptr() as *const f32, n),
            std::slice::from_raw_parts_mut(update.data_ptr() as *mut f32, n),
        )
    };
    let (one_minus_beta1, beta2, one_minus_beta2) =
        ((1.0 - c.beta1) as f32, c.beta2 as f32, (1.0 - c.beta2) as f32);
    let (bias_correction2_sqrt, epsilon) = (c.bias_correction2_sqrt as f32, c.epsilon as f32);
    let inverse_bias_correction1 = (1.0 / c.bias_correction1) as f32;
    for i in 0..n {
        let g = g[i];
        let m_i = m[i] + one_minus_beta1 * (g - m[i]);
        let v_i = v[i] * beta2 + (g * one_minus_beta2) * g;
        m[i] = m_i;
        v[i] = v_i;
        out[i] = (m_i * lr[i] / (v_i.sqrt() / bias_correction2_sqrt + epsilon)) * inverse_bias_correction1;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    #[test]
    fn an_infinite_gradient_of_a_finite_loss_skips_the_step() {
        let vs = nn::VarStore::new(Device::Cpu);
        let w = vs.root().var("w", &[2], nn::Init::Const(0.0));
        let mut adam = Adam::new(&vs, AdamConfig::with_learning_rate(0.1));
        // √w at w = 0: the loss is 0, its gradient +∞
        let loss = w.sqrt().sum(Kind::Float);
        assert_eq!(loss.double_value(&[]), 0.0);
        assert!(!adam.backward_step(&loss));
        assert_eq!(adam.steps(), 0);
        assert_eq!(Vec::<f32>::try_from(&w).unwrap(), vec![0.0, 0.0]);
        assert!(adam.state().iter().all(|(_, t)| t.abs().sum(Kind::Double).double_value(&[]) == 0.0));
        let finite = (&w - 1.0).square().sum(Kind::Float);
        assert!(adam.backward_step(&finite));
        assert_eq!(adam.steps(), 1);
    }

    #[test]
    fn a_nan_gradient_skips_the_step_and_the_largest_finite_gradients_do_not() {
        let vs = nn::VarStore::new(Device::Cpu);
        let w = vs.root().var("w", &[1000], nn::Init::Const(0.0));
        let mut adam = Adam::new(&vs, AdamConfig::with_learning_rate(0.1));
        // √w − √w at w = 0: the loss is 0, its gradient ∞ − ∞ = NaN
        let loss = (w.sqrt() - w.sqrt()).sum(Kind::Float);
        assert_eq!(loss.double_value(&[]), 0.0);
        assert!(!adam.backward_step(&loss));
        assert_eq!(adam.steps(), 0);
        // every gradient 3e38 (finite in float32; their float32 sum would overflow)
        let huge = (&w * 3.0e38).sum(Kind::Float);
        assert!(adam.backward_step(&huge));
        assert_eq!(adam.steps(), 1);
        // (the squared gradient overflows Adam's float32 second moment: the step is 0, not NaN)
        assert!(Vec::<f32>::try_from(&w).unwrap().iter().all(|x| x.is_finite()));
    }

    #[test]
    fn first_step_moves_each_weight_by_the_learning_rate_against_the_gradient_sign() {
        let vs = nn::VarStore::new(Device::Cpu);
        let w = vs.root().var("w", &[3], nn::Init::Const(1.0));
        let mut adam = Adam::new(&vs, AdamConfig::with_learning_rate(0.1));
        let target = Tensor::from_slice(&[2.0f32, 0.0, 1.0]);
        let loss = (&w - &target).square().sum(Kind::Float);
        adam.backward_step(&loss);
        let got: Vec<f32> = Vec::try_from(&w).unwrap();
        // Adam's first step is lr·sign(g) (up to ε); zero gradient leaves the weight alone.
        assert!(
            (got[0] - 1.1).abs() < 1e-5 && (got[1] - 0.9).abs() < 1e-5 && (got[2] - 1.0).abs() < 1e-6,
            "{got:?}"
        );
        assert_eq!(adam.steps(), 1);
    }

    /// The one-pass float32 step writes what the whole-buffer tensor operations compute.
    #[test]
    fn the_fused_step_computes_the_tensor_operations_step() {
        tch::manual_seed(3);
        let n = 10_000i64;
        let c = AdamCoefficients {
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-8,
            bias_correction1: 1.0 - 0.9f64.powi(3),
            bias_correction2_sqrt: (1.0 - 0.999f64.powi(3)).sqrt(),
        };
        let gradient = Tensor::randn([n], (Kind::Float, Device::Cpu));
        let (mut m, mut v) = (
            Tensor::randn([n], (Kind::Float, Device::Cpu)) * 0.1,
            Tensor::rand([n], (Kind::Float, Device::Cpu)),
        );
        let learning_rates = Tensor::rand([n], (Kind::Float, Device::Cpu)) * 1e-3;
        let (mut m_ops, mut v_ops) = (m.copy(), v.copy());
        let mut update = m.empty_like();
        assert!(fused_float32_step(&mut m, &mut v, &learning_rates, &gradient, &mut update, c));
        let _ = m_ops.lerp_(&gradient, 1.0 - c.beta1);
        let _ = v_ops.g_mul_scalar_(c.beta2);
        let _ = v_ops.addcmul_(&(&gradient * (1.0 - c.beta2)), &gradient);
        let denominator = v_ops.sqrt() / c.bias_correction2_sqrt + c.epsilon;
        let update_ops = (&m_ops * &learning_rates / denominator) * (1.0 / c.bias_correction1);
        // within a few float32 roundings of the buffer's scale
        let gap =
            |a: &Tensor, b: &Tensor| (a - b).abs().max().double_value(&[]) / b.abs().max().double_value(&[]);
        assert!(gap(&m, &m_ops) < 1e-5, "first moments differ: {}", gap(&m, &m_ops));
        assert!(gap(&v, &v_ops) < 1e-5, "second moments differ: {}", gap(&v, &v_ops));
        assert!(gap(&update, &update_ops) < 1e-5, "updates differ: {}", gap(&update, &update_ops));
        assert!(update.abs().max().double_value(&[]) > 0.0);
        // a float64 buffer is not taken
        let mut double = m.to_kind(Kind::Double);
        assert!(!fused_float32_step(&mut double, &mut v, &learning_rates, &gradient, &mut update, c));
    }

    /// The flat step (every gradient defined) and the per-parameter step (one missing) give
    /// the same weights, per-parameter learning rates included.
    #[test]
    fn flat_and_per_parameter_steps_agree() {
        let run = |with_unused: bool| -> Vec<Vec<f32>> {
            let vs = nn::VarStore::new(Device::Cpu);
            let a = vs.root().var("a", &[3], nn::Init::Const(1.0));
            let b = vs.root().var("b", &[2, 2], nn::Init::Const(-0.5));
            let _unused = with_unused.then(|| vs.root().var("unused", &[1], nn::Init::Const(7.0)));
            let mut adam = Adam::new(&vs, AdamConfig::with_learning_rate(0.05));
            assert!(adam.set_learning_rate("b", 0.2));
            let target = Tensor::from_slice(&[2.0f32, 0.0, 1.0]);
            for _ in 0..5 {
                let loss = (&a - &target).square().sum(Kind::Float) + (&b * 3.0).exp().sum(Kind::Float);
                assert!(adam.backward_step(&loss));
            }
            vec![Vec::try_from(&a).unwrap(), Vec::try_from(b.flatten(0, -1)).unwrap()]
        };
        let (flat, per_parameter) = (run(false), run(true));
        for (x, y) in flat.iter().flatten().zip(per_parameter.iter().flatten()) {
            assert!((x - y).abs() < 1e-6, "{flat:?} vs {per_parameter:?}");
        }
        assert_ne!(flat[0], vec![1.0, 1.0, 1.0]);
    }

    #[test]
    fn state_round_trips() {
        let vs = nn::VarStore::new(Device::Cpu);
        let w = vs.root().var("w", &[2], nn::Init::Const(1.0));
        let mut adam = Adam::new(&vs, AdamConfig::with_learning_rate(0.1));
        adam.backward_step(&w.square().sum(Kind::Float));
        let saved: std::collections::HashMap<String, Tensor> =
            adam.state().into_iter().map(|(k, t)| (k, t.copy())).collect();
        let mut restored = Adam::new(&vs, AdamConfig::with_learning_rate(0.1));
        restored.load_state(|k| saved.get(k).map(|t| t.shallow_clone())).unwrap();
        assert_eq!(restored.steps(), 1);
        let m: Vec<f32> = Vec::try_from(&restored.first_moments[0]).unwrap();
        assert!((m[0] - 0.2).abs() < 1e-6, "{m:?}");
        let err = Adam::new(&vs, AdamConfig::with_learning_rate(0.1)).load_state(|_| None).unwrap_err();
        assert_eq!(err, LoadError::Missing { name: "adam.m.w".into() });
        assert_eq!(err.to_string(), "missing tensor adam.m.w");
    }
}
