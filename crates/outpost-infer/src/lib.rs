//! Outpost's inference: ONNX models loaded from bytes with tract-onnx (plus
//! the `ai.onnx.ml` operators tract lacks, in [`ml`]), run with typed tensors
//! by name, natively and on wasm32 alike.
//!
//! A malformed input must become a clear error naming the input, the expected
//! and the given dtype or shape, never a panic inside the runtime. The checks
//! live here so that the Worker, the CLI and the wasm client report the same
//! error for the same mistake.

pub mod cache;
pub mod inspect;
pub mod json;
pub mod load;
pub mod ml;
pub mod model;
pub mod tensor;

pub use model::{Model, RunError};
pub use tensor::{Dim, ElementType, InputError, Tensor, TensorData, TensorSpec};
