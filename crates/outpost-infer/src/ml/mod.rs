//! The `ai.onnx.ml` operators scikit-learn exports that tract-onnx 0.23 does
//! not run, registered into tract's ONNX loader.
//!
//! tract reads neural nets and tree classifiers, but every scikit-learn
//! isolation forest, random-forest or gradient-boosting regressor is a
//! TreeEnsembleRegressor, every StandardScaler a Scaler, and isolation forests
//! also go through LabelEncoder. Each operator here follows onnxruntime's
//! behaviour (the reference the exporters test against), checked by the
//! conformance fixtures in `tests/data/conformance`.
//!
//! TreeEnsembleClassifier is registered too, replacing tract's own: tract's
//! refuses the PROBIT and SOFTMAX_ZERO post transforms and a single base value
//! for two classes, which gradient boosting emits.

mod attrs;
mod imputer;
mod label_encoder;
mod scaler;
pub mod tree;
mod tree_op;

use tract_onnx::model::OnnxOpRegister;
use tract_onnx::prelude::DatumType;
use tract_onnx::tract_hir::internal::*;

/// Adds Outpost's `ai.onnx.ml` operators to a loader's register.
pub fn register(register: &mut OnnxOpRegister) {
    register.insert("TreeEnsembleRegressor", tree_op::regressor);
    register.insert("TreeEnsembleClassifier", tree_op::classifier);
    register.insert("Scaler", scaler::scaler);
    register.insert("LabelEncoder", label_encoder::label_encoder);
    register.insert("Imputer", imputer::imputer);
}

/// Shape rules of an operator with one input and one output of the same
/// shape and a fixed output type (Scaler, LabelEncoder, Imputer).
pub(crate) fn elementwise_rules<'r, 'p: 'r>(
    s: &mut Solver<'r>,
    inputs: &'p [TensorProxy],
    outputs: &'p [TensorProxy],
    output_type: DatumType,
) -> InferenceResult {
    check_input_arity(inputs, 1)?;
    check_output_arity(outputs, 1)?;
    s.equals(&outputs[0].datum_type, output_type)?;
    s.equals(&inputs[0].shape, &outputs[0].shape)?;
    Ok(())
}
