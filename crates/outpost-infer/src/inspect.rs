//! What an uploaded artifact is, decided from its bytes at registration.
//!
//! ONNX models are parsed (IR version, opsets, producer, input and output names,
//! types and shapes: this becomes the version's schema); safetensors headers are
//! validated; pickle-based formats (pickle, joblib, PyTorch zip checkpoints) are
//! scanned statically and marked unsafe when they import anything outside the
//! allow-list; anything else is stored as opaque. A declared format that the
//! bytes contradict is an error, not a silent relabel.

use outpost_core::pickle::{self, PickleScan};
use outpost_core::version::ArtifactFormat;
use prost::Message;
use serde::{Deserialize, Serialize};

use crate::tensor::Dim;

/// The parts of ONNX's `ModelProto` Outpost reads (field numbers from onnx.proto).
#[derive(Clone, PartialEq, Message)]
struct ModelProto {
    #[prost(int64, tag = "1")]
    ir_version: i64,
    #[prost(string, tag = "2")]
    producer_name: String,
    #[prost(string, tag = "3")]
    producer_version: String,
    #[prost(message, optional, tag = "7")]
    graph: Option<GraphProto>,
    #[prost(message, repeated, tag = "8")]
    opset_import: Vec<OperatorSetIdProto>,
}

#[derive(Clone, PartialEq, Message)]
struct OperatorSetIdProto {
    #[prost(string, tag = "1")]
    domain: String,
    #[prost(int64, tag = "2")]
    version: i64,
}

#[derive(Clone, PartialEq, Message)]
struct GraphProto {
    #[prost(message, repeated, tag = "1")]
    node: Vec<NodeProto>,
    #[prost(string, tag = "2")]
    name: String,
    #[prost(message, repeated, tag = "5")]
    initializer: Vec<TensorProtoName>,
    #[prost(message, repeated, tag = "11")]
    input: Vec<ValueInfoProto>,
    #[prost(message, repeated, tag = "12")]
    output: Vec<ValueInfoProto>,
}

#[derive(Clone, PartialEq, Message)]
struct NodeProto {
    /// Read by no summary; the tests' models name what their nodes produce.
    #[prost(string, repeated, tag = "2")]
    output: Vec<String>,
    #[prost(string, tag = "4")]
    op_type: String,
    #[prost(string, tag = "7")]
    domain: String,
}

/// The name of an initializer (older exporters list them as inputs too).
/// Its type and shape are decoded so that tests can build a valid one; its
/// data is not read here ([`crate::validate`] checks it).
#[derive(Clone, PartialEq, Message)]
struct TensorProtoName {
    #[prost(int64, repeated, tag = "1")]
    dims: Vec<i64>,
    #[prost(int32, tag = "2")]
    data_type: i32,
    #[prost(string, tag = "8")]
    name: String,
}

#[derive(Clone, PartialEq, Message)]
struct ValueInfoProto {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(message, optional, tag = "2")]
    r#type: Option<TypeProto>,
}

#[derive(Clone, PartialEq, Message)]
struct TypeProto {
    #[prost(message, optional, tag = "1")]
    tensor_type: Option<TensorTypeProto>,
    #[prost(message, optional, boxed, tag = "4")]
    sequence_type: Option<Box<SequenceTypeProto>>,
    #[prost(message, optional, boxed, tag = "5")]
    map_type: Option<Box<MapTypeProto>>,
}

#[derive(Clone, PartialEq, Message)]
struct TensorTypeProto {
    #[prost(int32, tag = "1")]
    elem_type: i32,
    #[prost(message, optional, tag = "2")]
    shape: Option<TensorShapeProto>,
}

#[derive(Clone, PartialEq, Message)]
struct SequenceTypeProto {
    #[prost(message, optional, boxed, tag = "1")]
    elem_type: Option<Box<TypeProto>>,
}

#[derive(Clone, PartialEq, Message)]
struct MapTypeProto {
    #[prost(int32, tag = "1")]
    key_type: i32,
    #[prost(message, optional, boxed, tag = "2")]
    value_type: Option<Box<TypeProto>>,
}

#[derive(Clone, PartialEq, Message)]
struct TensorShapeProto {
    #[prost(message, repeated, tag = "1")]
    dim: Vec<DimensionProto>,
}

#[derive(Clone, PartialEq, Message)]
struct DimensionProto {
    #[prost(int64, optional, tag = "1")]
    dim_value: Option<i64>,
    #[prost(string, optional, tag = "2")]
    dim_param: Option<String>,
}

/// ONNX `TensorProto.DataType` names.
fn onnx_dtype(code: i32) -> String {
    match code {
        1 => "float",
        2 => "uint8",
        3 => "int8",
        4 => "uint16",
        5 => "int16",
        6 => "int32",
        7 => "int64",
        8 => "string",
        9 => "bool",
        10 => "float16",
        11 => "double",
        12 => "uint32",
        13 => "uint64",
        16 => "bfloat16",
        other => return format!("dtype({other})"),
    }
    .to_owned()
}

/// One declared input or output of an ONNX graph.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OnnxValue {
    pub name: String,
    /// `float`, `int64`, ... for tensors; `seq(map(int64,float))` and the like
    /// for scikit-learn's non-tensor outputs.
    pub dtype: String,
    /// Empty for non-tensor values.
    pub shape: Vec<Dim>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Opset {
    /// `""` is the default ONNX domain, `ai.onnx.ml` the classical-ML one.
    pub domain: String,
    pub version: i64,
}

/// The schema recorded for an ONNX version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OnnxSummary {
    pub ir_version: i64,
    pub producer: String,
    pub opsets: Vec<Opset>,
    pub inputs: Vec<OnnxValue>,
    pub outputs: Vec<OnnxValue>,
    /// Distinct operator types used, `domain:op` for non-default domains.
    pub operators: Vec<String>,
}

fn describe_type(ty: Option<&TypeProto>) -> (String, Vec<Dim>) {
    let Some(ty) = ty else {
        return ("unknown".into(), Vec::new());
    };
    if let Some(tensor) = &ty.tensor_type {
        let shape = tensor
            .shape
            .as_ref()
            .map(|shape| {
                shape
                    .dim
                    .iter()
                    .map(|d| match (&d.dim_value, &d.dim_param) {
                        (Some(v), _) if *v >= 0 => Dim::Fixed(*v as u64),
                        (_, Some(p)) if !p.is_empty() => Dim::Symbolic(p.clone()),
                        _ => Dim::Symbolic("?".into()),
                    })
                    .collect()
            })
            .unwrap_or_default();
        return (onnx_dtype(tensor.elem_type), shape);
    }
    if let Some(seq) = &ty.sequence_type {
        let (inner, _) = describe_type(seq.elem_type.as_deref());
        return (format!("seq({inner})"), Vec::new());
    }
    if let Some(map) = &ty.map_type {
        let (value, _) = describe_type(map.value_type.as_deref());
        return (
            format!("map({},{value})", onnx_dtype(map.key_type)),
            Vec::new(),
        );
    }
    ("unknown".into(), Vec::new())
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InspectError {
    #[error("the artifact is not a valid ONNX model: {0}")]
    NotOnnx(String),
    /// A tensor whose dims do not match its data, or whose data lives in an
    /// external file ([`crate::validate`]): refused at registration, as
    /// `Model::load` refuses it on every runtime.
    #[error("the ONNX model is refused: {0}")]
    OnnxRefused(#[from] crate::validate::OnnxCheckError),
    #[error("the artifact is not a valid safetensors file: {0}")]
    NotSafetensors(String),
    #[error("declared format `{declared}` but the artifact looks like `{detected}`")]
    FormatConflict {
        declared: ArtifactFormat,
        detected: ArtifactFormat,
    },
}

/// Parses an ONNX model's metadata. Plausibility checks guard against bytes
/// that happen to decode as protobuf.
pub fn summarise_onnx(bytes: &[u8]) -> Result<OnnxSummary, InspectError> {
    let model =
        ModelProto::decode(bytes).map_err(|e| InspectError::NotOnnx(format!("protobuf: {e}")))?;
    if !(1..=64).contains(&model.ir_version) {
        return Err(InspectError::NotOnnx(format!(
            "implausible IR version {}",
            model.ir_version
        )));
    }
    let graph = model
        .graph
        .ok_or_else(|| InspectError::NotOnnx("no graph".into()))?;
    if model.opset_import.is_empty() {
        return Err(InspectError::NotOnnx("no opset_import".into()));
    }
    if graph.output.is_empty() {
        return Err(InspectError::NotOnnx("graph has no outputs".into()));
    }
    let initializers: std::collections::HashSet<&str> =
        graph.initializer.iter().map(|t| t.name.as_str()).collect();
    let value = |v: &ValueInfoProto| {
        let (dtype, shape) = describe_type(v.r#type.as_ref());
        OnnxValue {
            name: v.name.clone(),
            dtype,
            shape,
        }
    };
    let mut operators: Vec<String> = Vec::new();
    for node in &graph.node {
        let op = if node.domain.is_empty() || node.domain == "ai.onnx" {
            node.op_type.clone()
        } else {
            format!("{}:{}", node.domain, node.op_type)
        };
        if !operators.contains(&op) {
            operators.push(op);
        }
    }
    operators.sort();
    let producer = if model.producer_version.is_empty() {
        model.producer_name
    } else {
        format!("{} {}", model.producer_name, model.producer_version)
    };
    Ok(OnnxSummary {
        ir_version: model.ir_version,
        producer,
        opsets: model
            .opset_import
            .iter()
            .map(|o| Opset {
                domain: o.domain.clone(),
                version: o.version,
            })
            .collect(),
        inputs: graph
            .input
            .iter()
            .filter(|v| !initializers.contains(v.name.as_str()))
            .map(value)
            .collect(),
        outputs: graph.output.iter().map(value).collect(),
        operators,
    })
}

/// The names, dtypes and shapes of a safetensors file's tensors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SafetensorsSummary {
    pub tensors: Vec<SafetensorInfo>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SafetensorInfo {
    pub name: String,
    pub dtype: String,
    pub shape: Vec<u64>,
}

pub fn summarise_safetensors(bytes: &[u8]) -> Result<SafetensorsSummary, InspectError> {
    let tensors = safetensors::SafeTensors::deserialize(bytes)
        .map_err(|e| InspectError::NotSafetensors(format!("{e:?}")))?;
    let mut out: Vec<SafetensorInfo> = tensors
        .tensors()
        .into_iter()
        .map(|(name, view)| SafetensorInfo {
            name,
            dtype: format!("{:?}", view.dtype()).to_lowercase(),
            shape: view.shape().iter().map(|&d| d as u64).collect(),
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(SafetensorsSummary { tensors: out })
}

/// The verdict on an artifact.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Inspection {
    pub format: ArtifactFormat,
    /// The recorded schema: an [`OnnxSummary`], a [`SafetensorsSummary`], the
    /// pickle scan, or nothing for opaque files.
    pub schema: Option<serde_json::Value>,
    /// Why the artifact must not be loaded, if it must not.
    pub unsafe_reason: Option<String>,
}

/// Pickles are recognised by parsing: protocols 0 and 1 have no `PROTO`
/// opcode and may start with any opcode (`(`, `c`, `]`, `N`, ...).
fn looks_like_pickle(bytes: &[u8]) -> bool {
    pickle::looks_like_pickle(bytes)
}

fn looks_like_safetensors(bytes: &[u8]) -> bool {
    bytes.len() > 9 && bytes[8] == b'{' && {
        let mut n = [0u8; 8];
        n.copy_from_slice(&bytes[..8]);
        u64::from_le_bytes(n) <= (bytes.len() - 8) as u64
    }
}

fn pickle_verdict(format: ArtifactFormat, scan: PickleScan) -> Inspection {
    Inspection {
        format,
        unsafe_reason: scan.reason(),
        schema: serde_json::to_value(&scan).ok(),
    }
}

/// Decides an artifact's format (trusting a declaration only when the bytes
/// agree) and what to record about it.
pub fn inspect_artifact(
    bytes: &[u8],
    declared: Option<ArtifactFormat>,
) -> Result<Inspection, InspectError> {
    // Zip readers find an archive from its end-of-central-directory record,
    // whatever precedes it. A safetensors-shaped file that a pickle loader
    // would act on is taken for a pickle, so that the pickle gets scanned.
    let detected = if outpost_core::zip::find(bytes).is_some() {
        Some(ArtifactFormat::Pytorch)
    } else if looks_like_safetensors(bytes) && !pickle::parses_as_pickle(bytes) {
        Some(ArtifactFormat::Safetensors)
    } else if looks_like_pickle(bytes) {
        Some(ArtifactFormat::Pickle)
    } else if summarise_onnx(bytes).is_ok() {
        Some(ArtifactFormat::Onnx)
    } else {
        None
    };
    let format = match (declared, detected) {
        (Some(declared), None) => declared,
        (None, Some(detected)) => detected,
        (None, None) => ArtifactFormat::Other,
        // joblib files are pickles; a declared `other` keeps any detection.
        (Some(ArtifactFormat::Joblib), Some(ArtifactFormat::Pickle)) => ArtifactFormat::Joblib,
        // PyTorch checkpoints older than 1.6 are pickle streams, not zips.
        (Some(ArtifactFormat::Pytorch), Some(ArtifactFormat::Pickle)) => ArtifactFormat::Pytorch,
        (Some(ArtifactFormat::Other), Some(detected)) => detected,
        (Some(declared), Some(detected)) if declared == detected => declared,
        (Some(declared), Some(detected)) => {
            return Err(InspectError::FormatConflict { declared, detected });
        }
    };
    Ok(match format {
        ArtifactFormat::Onnx => {
            let summary = summarise_onnx(bytes)?;
            crate::validate::validate_onnx(bytes)?;
            Inspection {
                format,
                schema: serde_json::to_value(summary).ok(),
                unsafe_reason: None,
            }
        }
        ArtifactFormat::Safetensors => Inspection {
            format,
            schema: serde_json::to_value(summarise_safetensors(bytes)?).ok(),
            unsafe_reason: None,
        },
        ArtifactFormat::Pickle | ArtifactFormat::Joblib => {
            if looks_like_pickle(bytes) {
                pickle_verdict(format, pickle::scan_pickle(bytes))
            } else {
                Inspection {
                    format,
                    schema: None,
                    unsafe_reason: Some(
                        "pickle could not be scanned: not an uncompressed pickle stream (compressed joblib?), and compressed streams cannot be scanned"
                            .into(),
                    ),
                }
            }
        }
        ArtifactFormat::Pytorch => match pickle::scan_zip(bytes) {
            Some(scan) => pickle_verdict(format, scan),
            None if looks_like_pickle(bytes) => pickle_verdict(format, pickle::scan_pickle(bytes)),
            None => Inspection {
                format,
                schema: None,
                unsafe_reason: Some(
                    "pickle could not be scanned: neither a zip archive nor a pickle stream".into(),
                ),
            },
        },
        ArtifactFormat::Other => Inspection {
            format,
            schema: None,
            unsafe_reason: None,
        },
    })
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    /// A tiny ONNX model built field by field: Add(X, B) → Y, with B an
    /// initializer also listed as an input (old exporters did that).
    fn tiny_onnx() -> Vec<u8> {
        let dim = |v: Option<i64>, p: Option<&str>| DimensionProto {
            dim_value: v,
            dim_param: p.map(str::to_owned),
        };
        let tensor = |name: &str, elem, dims: Vec<DimensionProto>| ValueInfoProto {
            name: name.into(),
            r#type: Some(TypeProto {
                tensor_type: Some(TensorTypeProto {
                    elem_type: elem,
                    shape: Some(TensorShapeProto { dim: dims }),
                }),
                sequence_type: None,
                map_type: None,
            }),
        };
        let model = ModelProto {
            ir_version: 8,
            producer_name: "outpost-test".into(),
            producer_version: "1".into(),
            opset_import: vec![
                OperatorSetIdProto {
                    domain: String::new(),
                    version: 17,
                },
                OperatorSetIdProto {
                    domain: "ai.onnx.ml".into(),
                    version: 3,
                },
            ],
            graph: Some(GraphProto {
                name: "g".into(),
                node: vec![
                    NodeProto {
                        output: vec!["Y".into()],
                        op_type: "Add".into(),
                        domain: String::new(),
                    },
                    NodeProto {
                        output: vec![],
                        op_type: "TreeEnsembleRegressor".into(),
                        domain: "ai.onnx.ml".into(),
                    },
                ],
                // An empty float tensor: valid, and no data to carry.
                initializer: vec![TensorProtoName {
                    name: "B".into(),
                    data_type: 1,
                    dims: vec![0],
                }],
                input: vec![
                    tensor("X", 1, vec![dim(None, Some("N")), dim(Some(4), None)]),
                    tensor("B", 1, vec![dim(Some(4), None)]),
                ],
                output: vec![tensor(
                    "Y",
                    1,
                    vec![dim(None, Some("N")), dim(Some(4), None)],
                )],
            }),
        };
        model.encode_to_vec()
    }

    #[test]
    fn onnx_schema_is_recorded() {
        let summary = summarise_onnx(&tiny_onnx()).unwrap();
        assert_eq!(summary.ir_version, 8);
        assert_eq!(summary.producer, "outpost-test 1");
        assert_eq!(summary.inputs.len(), 1, "initializers are not inputs");
        assert_eq!(summary.inputs[0].name, "X");
        assert_eq!(
            summary.inputs[0].shape,
            vec![Dim::Symbolic("N".into()), Dim::Fixed(4)]
        );
        assert_eq!(summary.outputs[0].dtype, "float");
        assert_eq!(
            summary.opsets[1],
            Opset {
                domain: "ai.onnx.ml".into(),
                version: 3
            }
        );
        assert_eq!(
            summary.operators,
            vec!["Add", "ai.onnx.ml:TreeEnsembleRegressor"]
        );
        let inspection = inspect_artifact(&tiny_onnx(), None).unwrap();
        assert_eq!(inspection.format, ArtifactFormat::Onnx);
        assert!(inspection.unsafe_reason.is_none());
    }

    #[test]
    fn garbage_is_not_onnx() {
        assert!(summarise_onnx(b"hello world").is_err());
        assert!(summarise_onnx(&[]).is_err());
        let err = inspect_artifact(b"plain text", Some(ArtifactFormat::Onnx));
        // Declared onnx, detected nothing: trusted, then parsing fails loudly.
        assert!(matches!(err, Err(InspectError::NotOnnx(_))), "{err:?}");
        let other = inspect_artifact(b"plain text", None).unwrap();
        assert_eq!(other.format, ArtifactFormat::Other);
    }

    #[test]
    fn safetensors_headers_are_validated() {
        let header = br#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#;
        let mut file = (header.len() as u64).to_le_bytes().to_vec();
        file.extend_from_slice(header);
        file.extend_from_slice(&[0u8; 8]);
        let inspection = inspect_artifact(&file, None).unwrap();
        assert_eq!(inspection.format, ArtifactFormat::Safetensors);
        assert_eq!(
            inspection.schema.unwrap()["tensors"][0]["shape"],
            serde_json::json!([2])
        );
        // Offsets past the end of the data.
        let bad_header = br#"{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#;
        let mut bad = (bad_header.len() as u64).to_le_bytes().to_vec();
        bad.extend_from_slice(bad_header);
        bad.extend_from_slice(&[0u8; 8]);
        assert!(matches!(
            inspect_artifact(&bad, None),
            Err(InspectError::NotSafetensors(_))
        ));
    }

    #[test]
    fn pickles_are_scanned_and_conflicts_refused() {
        let exploit = b"\x80\x02cos\nsystem\nq\x00X\x02\x00\x00\x00idq\x01\x85q\x02Rq\x03.";
        let inspection = inspect_artifact(exploit, Some(ArtifactFormat::Joblib)).unwrap();
        assert_eq!(inspection.format, ArtifactFormat::Joblib);
        assert!(inspection.unsafe_reason.unwrap().contains("os.system"));
        let conflict = inspect_artifact(exploit, Some(ArtifactFormat::Onnx));
        assert!(matches!(conflict, Err(InspectError::FormatConflict { .. })));
        let compressed =
            inspect_artifact(&[0x78, 0x9c, 1, 2], Some(ArtifactFormat::Joblib)).unwrap();
        assert!(
            compressed
                .unsafe_reason
                .unwrap()
                .contains("cannot be scanned")
        );
    }

    /// hostile-inputs `pickle-no-proto.pkl` and `zip-with-prefix.pt`: found by
    /// parsing and from the archive's end, not by their first bytes.
    #[test]
    fn pickles_and_zips_are_detected_by_parsing() {
        let protocol_0 = b"cos\nsystem\n(S'echo outpost-test'\ntR.";
        let inspection = inspect_artifact(protocol_0, None).unwrap();
        assert_eq!(inspection.format, ArtifactFormat::Pickle);
        assert!(inspection.unsafe_reason.unwrap().contains("os.system"));
        let benign = inspect_artifact(b"(lp0\nI1\naI2\na.", None).unwrap();
        assert_eq!(benign.format, ArtifactFormat::Pickle);
        assert!(benign.unsafe_reason.is_none(), "{benign:?}");

        let zip = outpost_core::zip::tests_support::stored_zip(&[("archive/data.pkl", protocol_0)]);
        let mut prefixed = b"PK\x07\x08".to_vec();
        prefixed.extend(zip);
        let inspection = inspect_artifact(&prefixed, None).unwrap();
        assert_eq!(inspection.format, ArtifactFormat::Pytorch);
        assert!(inspection.unsafe_reason.unwrap().contains("os.system"));

        // A pre-1.6 PyTorch checkpoint is a pickle stream.
        let legacy = inspect_artifact(protocol_0, Some(ArtifactFormat::Pytorch)).unwrap();
        assert_eq!(legacy.format, ArtifactFormat::Pytorch);
        assert!(legacy.unsafe_reason.unwrap().contains("os.system"));
    }
}
