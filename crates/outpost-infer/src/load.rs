//! Loading ONNX models with tract and Outpost's extra `ai.onnx.ml` operators:
//! the check a version must pass before it may be promoted, and the plan
//! [`crate::model::Model`] runs. Every tensor is checked by
//! [`crate::validate`] first, so tract only ever sees dimensions that mean
//! the same on wasm32 as natively and data that is in the file.

use std::sync::Arc;

use tract_onnx::prelude::*;
use tract_onnx::tract_hir::infer::Factoid;

/// Why a model could not be made runnable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{stage}: {message}")]
pub struct LoadError {
    /// `validate`, `parse`, `optimise` or `plan`: how far loading got.
    pub stage: &'static str,
    pub message: String,
}

fn fail(stage: &'static str) -> impl Fn(TractError) -> LoadError {
    move |err| LoadError {
        stage,
        // tract's error chains can be long; the first lines say what failed.
        message: format!("{err:#}")
            .lines()
            .take(3)
            .collect::<Vec<_>>()
            .join(" / "),
    }
}

/// Exporters such as skl2onnx leave the batch dimension unnamed; tract needs
/// every input dimension determined, so unknown ones become the symbol `N`.
fn with_symbolic_batch(mut model: InferenceModel) -> TractResult<InferenceModel> {
    let batch = model.symbols.sym("N");
    for input in 0..model.inputs.len() {
        let fact = model.input_fact(input)?.clone();
        let mut shape = fact.shape.clone();
        let unknown: Vec<usize> = shape
            .dims()
            .enumerate()
            .filter(|(_, dim)| dim.concretize().is_none())
            .map(|(axis, _)| axis)
            .collect();
        if unknown.is_empty() {
            continue;
        }
        for axis in unknown {
            shape.set_dim(axis, TDim::Sym(batch.clone()));
        }
        model.set_input_fact(input, fact.with_shape(shape))?;
    }
    Ok(model)
}

/// tract's ONNX loader with the operators of [`crate::ml`] registered.
pub fn onnx() -> tract_onnx::Onnx {
    let mut onnx = tract_onnx::onnx();
    crate::ml::register(&mut onnx.op_register);
    onnx
}

/// Checks every tensor ([`crate::validate::validate_onnx`]), then parses,
/// optimises and plans an ONNX model.
pub fn load_onnx(bytes: &[u8]) -> Result<Arc<TypedRunnableModel>, LoadError> {
    crate::validate::validate_onnx(bytes).map_err(|err| LoadError {
        stage: "validate",
        message: err.to_string(),
    })?;
    let model = onnx()
        .model_for_read(&mut std::io::Cursor::new(bytes))
        .map_err(fail("parse"))?;
    let model = with_symbolic_batch(model).map_err(fail("parse"))?;
    let optimised = model.into_optimized().map_err(fail("optimise"))?;
    check_derived_dims(&optimised)?;
    optimised.into_runnable().map_err(fail("plan"))
}

/// Every concrete dimension tract derived for any wire (a `Reshape` to a
/// constant shape, a folded `ConstantOfShape`, ...) stays within
/// [`crate::validate::MAX_DIM`]. tract keeps dimensions as `i64` but turns
/// them into `usize` with `as`, so on wasm32 a derived 2^32 + 4 becomes 4
/// where a 64-bit build refuses the model; this makes wasm32 refuse it too.
fn check_derived_dims(model: &TypedModel) -> Result<(), LoadError> {
    for node in model.nodes() {
        for (slot, outlet) in node.outputs.iter().enumerate() {
            let too_large = outlet.fact.shape.iter().find_map(|dim| {
                dim.as_i64()
                    .filter(|&d| !u64::try_from(d).is_ok_and(|d| d <= crate::validate::MAX_DIM))
            });
            if let Some(dim) = too_large {
                return Err(LoadError {
                    stage: "validate",
                    message: format!(
                        "node `{}` output {slot} has a dimension of {dim}, outside 0 to {} (2^32 - 1), the largest a 32-bit (wasm32) runtime can index",
                        node.name,
                        crate::validate::MAX_DIM
                    ),
                });
            }
        }
    }
    Ok(())
}

/// Parses, optimises and plans an ONNX model, as serving it would.
pub fn check_loadable(bytes: &[u8]) -> Result<(), LoadError> {
    load_onnx(bytes).map(|_| ())
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/data/models/");
        std::fs::read(format!("{path}{name}")).unwrap_or_default()
    }

    #[test]
    fn every_demo_model_loads() {
        for name in [
            "fraud-detector-1.0.0.onnx",
            "fraud-detector-1.2.0.onnx",
            "transaction-anomaly-1.0.0.onnx",
            "transaction-anomaly-1.1.0.onnx",
            "fraud-mlp-0.1.0.onnx",
            "fraud-mlp-0.2.0.onnx",
        ] {
            let bytes = fixture(name);
            assert!(!bytes.is_empty(), "fixture {name}");
            assert_eq!(check_loadable(&bytes), Ok(()), "{name}");
        }
    }

    #[test]
    fn a_derived_dimension_beyond_u32_is_refused() {
        let mut model = TypedModel::default();
        let fine = f32::fact([TDim::Val(4)]);
        model.add_source("x", fine).unwrap();
        assert_eq!(check_derived_dims(&model), Ok(()));
        let huge = f32::fact([TDim::Val((1 << 32) + 4)]);
        model.add_source("reshaped", huge).unwrap();
        let err = check_derived_dims(&model).unwrap_err();
        assert_eq!(err.stage, "validate");
        assert!(err.message.contains("4294967300"), "{err}");
        // Symbolic dimensions (the batch) are not concrete and pass.
        let mut symbolic = TypedModel::default();
        let n = symbolic.symbols.sym("N");
        symbolic.add_source("x", f32::fact([TDim::Sym(n)])).unwrap();
        assert_eq!(check_derived_dims(&symbolic), Ok(()));
    }

    #[test]
    fn garbage_fails_before_tract() {
        let err = check_loadable(b"not a model").unwrap_err();
        assert_eq!(err.stage, "validate");
    }
}
