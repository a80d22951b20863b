//! Inference inputs for Outpost: typed tensors and the checks that run before a
//! model sees them.
//!
//! A malformed input must become a clear error naming the input, the expected
//! and the given dtype or shape, never a panic inside the runtime. The checks
//! live here so that the Worker, the CLI and the wasm client report the same
//! error for the same mistake. The tract-onnx runtime plugs in behind these
//! types.

pub mod inspect;
pub mod load;
pub mod tensor;

pub use tensor::{Dim, ElementType, InputError, Tensor, TensorData, TensorSpec};
