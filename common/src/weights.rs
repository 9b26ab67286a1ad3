//! Policy weights as bytes in the safetensors format, for broadcasting to actors and for reading
//! policies out of checkpoints. Only `f32` tensors are produced; reading accepts `f32` only.

use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use tch::{Kind, Tensor};

use crate::checkpoint::NamedTensors;

/// Why weight bytes could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    /// Not a safetensors file, or truncated.
    #[error("malformed weights: {0}")]
    Malformed(String),
    /// A tensor of a type other than `f32`.
    #[error("tensor {name} has dtype {dtype}, expected F32")]
    UnsupportedDtype { name: String, dtype: String },
}

/// Why named tensors could not be loaded into a network or an optimizer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    /// No tensor of that name.
    #[error("missing tensor {name}")]
    Missing {
        /// The tensor's name (`policy.layer0.weight`).
        name: String,
    },
    /// A tensor of another shape than the variable it is loaded into.
    #[error("tensor {name} has shape {got:?}, expected {expected:?}")]
    Shape {
        /// The tensor's name.
        name: String,
        /// The variable's shape.
        expected: Vec<i64>,
        /// The tensor's.
        got: Vec<i64>,
    },
}

impl LoadError {
    /// Checks that `tensor` (found or not under `name`) fits a variable of shape `expected`.
    pub fn check(name: &str, tensor: Option<Tensor>, expected: &[i64]) -> Result<Tensor, Self> {
        let tensor = tensor.ok_or_else(|| Self::Missing { name: name.to_string() })?;
        if tensor.size() != expected {
            return Err(Self::Shape {
                name: name.to_string(),
                expected: expected.to_vec(),
                got: tensor.size(),
            });
        }
        Ok(tensor)
    }
}

/// Serializes `f32` tensors (moved to the CPU) into one safetensors byte buffer.
pub fn to_safetensors_bytes(tensors: &[(String, Tensor)]) -> Result<Vec<u8>, WeightsError> {
    let buffers: Vec<(String, Vec<i64>, Vec<u8>)> = tensors
        .iter()
        .map(|(name, tensor)| {
            let cpu = tensor.to_device(tch::Device::Cpu).to_kind(Kind::Float).contiguous();
            let numel = cpu.numel();
            let mut values = vec![0f32; numel];
            cpu.copy_data(&mut values, numel);
            let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            (name.clone(), cpu.size(), bytes)
        })
        .collect();
    let views = buffers
        .iter()
        .map(|(name, shape, bytes)| {
            let shape: Vec<usize> = shape.iter().map(|&d| d as usize).collect();
            TensorView::new(Dtype::F32, shape, bytes)
                .map(|view| (name.clone(), view))
                .map_err(|e| WeightsError::Malformed(format!("{name}: {e:?}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    safetensors::tensor::serialize(views, &None).map_err(|e| WeightsError::Malformed(format!("{e:?}")))
}

/// Parses a safetensors byte buffer into named CPU `f32` tensors.
pub fn from_safetensors_bytes(bytes: &[u8]) -> Result<NamedTensors, WeightsError> {
    let file = SafeTensors::deserialize(bytes).map_err(|e| WeightsError::Malformed(format!("{e:?}")))?;
    let mut named: Vec<(String, Tensor)> = file
        .tensors()
        .into_iter()
        .map(|(name, view)| {
            if view.dtype() != Dtype::F32 {
                return Err(WeightsError::UnsupportedDtype { name, dtype: format!("{:?}", view.dtype()) });
            }
            let shape: Vec<i64> = view.shape().iter().map(|&d| d as i64).collect();
            let tensor = Tensor::from_data_size(view.data(), &shape, Kind::Float);
            Ok((name, tensor))
        })
        .collect::<Result<_, _>>()?;
    named.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(named)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_preserves_names_shapes_and_values() {
        let tensors = vec![
            ("policy.a".to_string(), Tensor::from_slice(&[1.0f32, -2.5, 3.25, 4.0]).view([2, 2])),
            ("policy.b".to_string(), Tensor::from_slice(&[0.5f32])),
        ];
        let bytes = to_safetensors_bytes(&tensors).unwrap();
        let back = from_safetensors_bytes(&bytes).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back[0].0, "policy.a");
        assert_eq!(back[0].1.size(), vec![2, 2]);
        assert_eq!(Vec::<f32>::try_from(back[0].1.view([-1])).unwrap(), vec![1.0, -2.5, 3.25, 4.0]);
        assert!(from_safetensors_bytes(&bytes[..bytes.len() - 3]).is_err());
        assert!(from_safetensors_bytes(b"not safetensors").is_err());
    }

    #[test]
    fn a_missing_or_misshaped_tensor_is_named_with_both_shapes() {
        let tensor = || Some(Tensor::zeros([2, 3], (Kind::Float, tch::Device::Cpu)));
        assert!(LoadError::check("policy.w", tensor(), &[2, 3]).is_ok());
        let error = LoadError::check("policy.w", tensor(), &[3, 2]).unwrap_err();
        assert_eq!(
            error,
            LoadError::Shape { name: "policy.w".into(), expected: vec![3, 2], got: vec![2, 3] }
        );
        assert_eq!(error.to_string(), "tensor policy.w has shape [2, 3], expected [3, 2]");
        assert_eq!(
            LoadError::check("policy.b", None, &[1]),
            Err(LoadError::Missing { name: "policy.b".into() })
        );
    }
}
