//! Loading ONNX models with tract: the check a version must pass before it may
//! be promoted, and (with the inference work) the runtime itself.

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

/// Parses, optimises and plans an ONNX model, as serving it would.
pub fn check_loadable(bytes: &[u8]) -> Result<(), LoadError> {
    let model = tract_onnx::onnx()
        .model_for_read(&mut std::io::Cursor::new(bytes))
        .map_err(fail("parse"))?;
    let model = with_symbolic_batch(model).map_err(fail("parse"))?;
    let optimised = model.into_optimized().map_err(fail("optimise"))?;
    optimised.into_runnable().map_err(fail("plan"))?;
    Ok(())
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
    fn tree_classifiers_load() {
        for name in ["fraud-detector-1.0.0.onnx", "fraud-detector-1.2.0.onnx"] {
            let bytes = fixture(name);
            assert!(!bytes.is_empty(), "fixture {name}");
            assert_eq!(check_loadable(&bytes), Ok(()), "{name}");
        }
    }

    /// tract-onnx 0.23 lacks `ai.onnx.ml` TreeEnsembleRegressor (every
    /// scikit-learn isolation forest) and Scaler (StandardScaler pipelines):
    /// such models cannot be served until those operators are registered, and
    /// the promotion gate says so, naming the operator.
    #[test]
    fn models_with_missing_operators_do_not_load_yet() {
        let err = check_loadable(&fixture("transaction-anomaly-1.0.0.onnx")).unwrap_err();
        assert!(err.message.contains("TreeEnsembleRegressor"), "{err}");
        let err = check_loadable(&fixture("fraud-mlp-0.1.0.onnx")).unwrap_err();
        assert!(err.message.contains("Scaler"), "{err}");
    }

    #[test]
    fn garbage_fails_at_parse() {
        let err = check_loadable(b"not a model").unwrap_err();
        assert_eq!(err.stage, "parse");
    }
}
