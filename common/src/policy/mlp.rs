//! The multilayer perceptron of the paper's grid experiments: `hidden_layers` layers of
//! `hidden` units with LeakyReLU, one output per action (a log edge flow).

use tch::{Tensor, nn};

/// A fully connected network with LeakyReLU activations and a linear output layer.
#[derive(Debug)]
pub struct Mlp {
    layers: Vec<nn::Linear>,
}

impl Mlp {
    /// Creates the layers under `path` as `layer0`, `layer1`, …; the last one is the output.
    pub fn new(
        path: &nn::Path,
        input_dim: usize,
        hidden: usize,
        hidden_layers: usize,
        output_dim: usize,
    ) -> Self {
        let mut widths = vec![input_dim as i64];
        widths.extend(std::iter::repeat_n(hidden as i64, hidden_layers));
        widths.push(output_dim as i64);
        let layers = widths
            .windows(2)
            .enumerate()
            .map(|(i, w)| nn::linear(path / format!("layer{i}"), w[0], w[1], Default::default()))
            .collect();
        Self { layers }
    }

    /// `[batch, input_dim] → [batch, output_dim]`, in the parameters' precision (the input is
    /// converted when it differs).
    pub fn forward(&self, input: &Tensor) -> Tensor {
        let (last, hidden) = self.layers.split_last().expect("an MLP has an output layer");
        let mut x = input.to_kind(last.ws.kind());
        for layer in hidden {
            x = x.linear(&layer.ws, layer.bs.as_ref()).leaky_relu();
        }
        x.linear(&last.ws, last.bs.as_ref())
    }

    /// The device of the parameters.
    pub fn device(&self) -> tch::Device {
        self.layers[0].ws.device()
    }

    /// Multiply–add operations of one forward pass per input row (for FLOP accounting).
    pub fn macs_per_row(&self) -> u64 {
        self.layers.iter().map(|l| l.ws.numel() as u64).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    #[test]
    fn shapes_and_parameter_names() {
        let vs = nn::VarStore::new(Device::Cpu);
        let mlp = Mlp::new(&vs.root(), 8, 16, 2, 3);
        let out = mlp.forward(&Tensor::zeros([5, 8], (Kind::Float, Device::Cpu)));
        assert_eq!(out.size(), vec![5, 3]);
        let mut names: Vec<String> = vs.variables().into_keys().collect();
        names.sort();
        assert_eq!(
            names,
            ["layer0.bias", "layer0.weight", "layer1.bias", "layer1.weight", "layer2.bias", "layer2.weight"]
        );
        assert_eq!(mlp.macs_per_row(), 8 * 16 + 16 * 16 + 16 * 3);
    }
}
