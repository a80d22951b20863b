//! Outpost's inference: ONNX models loaded from bytes with tract-onnx (plus
//! the `ai.onnx.ml` operators tract lacks, in `ml`), run with typed tensors
//! by name, natively and on wasm32 alike.
//!
//! The `runtime` feature (default) carries tract. Without it the crate
//! inspects and validates artifacts only, which is all the registry Worker
//! needs: models run in the inference Worker, reached through the
//! [`remote`] protocol.
//!
//! A malformed input must become a clear error naming the input, the expected
//! and the given dtype or shape, never a panic inside the runtime. The checks
//! live here so that the Worker, the CLI and the wasm client report the same
//! error for the same mistake.

pub mod cache;
pub mod inspect;
pub mod json;
#[cfg(feature = "runtime")]
pub mod load;
#[cfg(feature = "runtime")]
pub mod ml;
#[cfg(feature = "runtime")]
pub mod model;
pub mod remote;
pub mod tensor;
pub mod validate;

#[cfg(feature = "runtime")]
pub use model::{Model, RunError};
pub use tensor::{Dim, ElementType, InputError, Tensor, TensorData, TensorSpec};

/// Runs the module's static constructors (tract registers its kernels and
/// settings through `inventory`). Call it once, from the wasm module's start
/// function: wasm-ld wraps every exported function in a run of all
/// constructors unless the module calls them itself, which otherwise repeats
/// that work on every call into the module.
#[cfg(all(target_family = "wasm", feature = "runtime"))]
#[allow(
    unsafe_code,
    reason = "calls the linker-synthesised constructor runner, once"
)]
pub fn run_constructors() {
    unsafe extern "C" {
        fn __wasm_call_ctors();
    }
    // SAFETY: the embedder calls the start function once, right after
    // instantiation, before any other export; the constructors are
    // tract's `inventory` registrations.
    unsafe { __wasm_call_ctors() }
}
