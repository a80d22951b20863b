//! Loading ONNX models with tract and Outpost's extra `ai.onnx.ml` operators:
//! the check a version must pass before it may be promoted, and the plan
//! [`crate::model::Model`] runs.

use std::sync::Arc;

use tract_onnx::prelude::*;
use tract_onnx::tract_hir::infer::Factoid;

/// Why a model could not be made runnable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{stage}: {message}")]
pub struct LoadError {
    /// `parse`, `optimise` or `plan`: how far loading got.
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

/// Parses, optimises and plans an ONNX model.
pub fn load_onnx(bytes: &[u8]) -> Result<Arc<TypedRunnableModel>, LoadError> {
    let model = onnx()
        .model_for_read(&mut std::io::Cursor::new(bytes))
        .map_err(fail("parse"))?;
    let model = with_symbolic_batch(model).map_err(fail("parse"))?;
    let optimised = model.into_optimized().map_err(fail("optimise"))?;
    optimised.into_runnable().map_err(fail("plan"))
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
    fn garbage_fails_at_parse() {
        let err = check_loadable(b"not a model").unwrap_err();
        assert_eq!(err.stage, "parse");
    }
}
