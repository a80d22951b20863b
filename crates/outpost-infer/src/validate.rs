//! Every tensor an ONNX file carries, checked before tract sees the file.
//!
//! tract trusts a `TensorProto`'s `dims`: it casts each to `usize` (so on
//! wasm32 a dimension of 2^32 + 1 becomes 1 and four bytes pass for a
//! 4 294 967 297-element tensor), multiplies them in `usize`, and panics on
//! a string tensor stored in `raw_data`. And a tensor may point at an
//! external file (`data_location = EXTERNAL`, `external_data["location"]`),
//! which a registry must never follow. So [`validate_onnx`] walks the whole
//! model — the main graph, every subgraph in a node attribute (`If`, `Loop`,
//! `Scan` bodies), functions and training graphs — and checks each tensor it
//! finds (initializers, sparse initializers, `TENSOR`/`TENSORS`/
//! `SPARSE_TENSOR` attributes such as `Constant.value` or the `ai.onnx.ml`
//! `*_as_tensor` attributes), refusing with the tensor's place and the
//! problem:
//!
//! - no external data (`TensorProto.data_location`, `external_data`), no
//!   segments (`TensorProto.segment`): a model is one self-contained file;
//! - a known `TensorProto.DataType`;
//! - every dimension `>= 0`, and their product computed in `u64` with
//!   `checked_mul`, so the count is the same on every target and an
//!   overflow is an error rather than a wrap;
//! - exactly one data source, and its length equal to the count: `raw_data`
//!   bytes = ⌈count · bits / 8⌉, or the number of values in the typed field
//!   the ONNX spec assigns to the data type (`float_data` for float, two per
//!   element for complex64, `int32_data` for the narrow integer and float
//!   types — two 4-bit or four 2-bit elements per value —, `int64_data`,
//!   `double_data`, `uint64_data` for uint32 and uint64, `string_data` for
//!   strings, which never use `raw_data`);
//! - every dimension at most 2^32 − 1, the largest a 32-bit target can
//!   index, so that a tensor (even an empty one, `[2^32, 0]`) has the same
//!   shape on wasm32 as natively, and the count and byte size fit the
//!   target's `usize`.
//!
//! Declared shapes (graph inputs, outputs, `value_info`) carry no data;
//! their fixed dimensions must also stay within 2^32 − 1 for the same
//! reason, while negative ones keep meaning "unknown", as tract and
//! Outpost's schema read them.
//!
//! The checks run in [`crate::load::load_onnx`] (so in `Model::load` on
//! every runtime, and in the promotion gate's `check_loadable`) and in
//! registration's [`crate::inspect::inspect_artifact`]. Field numbers are
//! those of `onnx.proto` (onnx 1.17+).

use std::fmt;

use prost::Message;

/// The largest dimension accepted: `u32::MAX`, the widest `usize` wasm32 has.
pub const MAX_DIM: u64 = u32::MAX as u64;

#[derive(Clone, PartialEq, Message)]
struct ModelProto {
    #[prost(message, optional, tag = "7")]
    graph: Option<GraphProto>,
    #[prost(message, repeated, tag = "20")]
    training_info: Vec<TrainingInfoProto>,
    #[prost(message, repeated, tag = "25")]
    functions: Vec<FunctionProto>,
}

#[derive(Clone, PartialEq, Message)]
struct TrainingInfoProto {
    #[prost(message, optional, tag = "1")]
    initialization: Option<GraphProto>,
    #[prost(message, optional, tag = "2")]
    algorithm: Option<GraphProto>,
}

#[derive(Clone, PartialEq, Message)]
struct FunctionProto {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(message, repeated, tag = "7")]
    node: Vec<NodeProto>,
}

#[derive(Clone, PartialEq, Message)]
struct GraphProto {
    #[prost(message, repeated, tag = "1")]
    node: Vec<NodeProto>,
    #[prost(string, tag = "2")]
    name: String,
    #[prost(message, repeated, tag = "5")]
    initializer: Vec<TensorProto>,
    #[prost(message, repeated, tag = "15")]
    sparse_initializer: Vec<SparseTensorProto>,
    #[prost(message, repeated, tag = "11")]
    input: Vec<ValueInfoProto>,
    #[prost(message, repeated, tag = "12")]
    output: Vec<ValueInfoProto>,
    #[prost(message, repeated, tag = "13")]
    value_info: Vec<ValueInfoProto>,
}

#[derive(Clone, PartialEq, Message)]
struct NodeProto {
    #[prost(string, repeated, tag = "1")]
    input: Vec<String>,
    #[prost(string, repeated, tag = "2")]
    output: Vec<String>,
    #[prost(string, tag = "3")]
    name: String,
    #[prost(string, tag = "4")]
    op_type: String,
    #[prost(message, repeated, tag = "5")]
    attribute: Vec<AttributeProto>,
}

#[derive(Clone, PartialEq, Message)]
struct AttributeProto {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(int64, repeated, tag = "8")]
    ints: Vec<i64>,
    #[prost(message, optional, tag = "5")]
    t: Option<TensorProto>,
    #[prost(message, optional, boxed, tag = "6")]
    g: Option<Box<GraphProto>>,
    #[prost(message, repeated, tag = "10")]
    tensors: Vec<TensorProto>,
    #[prost(message, repeated, tag = "11")]
    graphs: Vec<GraphProto>,
    #[prost(message, optional, tag = "22")]
    sparse_tensor: Option<SparseTensorProto>,
    #[prost(message, repeated, tag = "23")]
    sparse_tensors: Vec<SparseTensorProto>,
}

#[derive(Clone, PartialEq, Message)]
struct StringStringEntryProto {
    #[prost(string, tag = "1")]
    key: String,
    #[prost(string, tag = "2")]
    value: String,
}

#[derive(Clone, PartialEq, Message)]
struct Segment {
    #[prost(int64, tag = "1")]
    begin: i64,
    #[prost(int64, tag = "2")]
    end: i64,
}

#[derive(Clone, PartialEq, Message)]
struct TensorProto {
    #[prost(int64, repeated, tag = "1")]
    dims: Vec<i64>,
    #[prost(int32, tag = "2")]
    data_type: i32,
    #[prost(message, optional, tag = "3")]
    segment: Option<Segment>,
    #[prost(float, repeated, tag = "4")]
    float_data: Vec<f32>,
    #[prost(int32, repeated, tag = "5")]
    int32_data: Vec<i32>,
    #[prost(bytes = "vec", repeated, tag = "6")]
    string_data: Vec<Vec<u8>>,
    #[prost(int64, repeated, tag = "7")]
    int64_data: Vec<i64>,
    #[prost(string, tag = "8")]
    name: String,
    #[prost(bytes = "vec", tag = "9")]
    raw_data: Vec<u8>,
    #[prost(double, repeated, tag = "10")]
    double_data: Vec<f64>,
    #[prost(uint64, repeated, tag = "11")]
    uint64_data: Vec<u64>,
    #[prost(message, repeated, tag = "13")]
    external_data: Vec<StringStringEntryProto>,
    #[prost(int32, tag = "14")]
    data_location: i32,
}

#[derive(Clone, PartialEq, Message)]
struct SparseTensorProto {
    #[prost(message, optional, tag = "1")]
    values: Option<TensorProto>,
    #[prost(message, optional, tag = "2")]
    indices: Option<TensorProto>,
    #[prost(int64, repeated, tag = "3")]
    dims: Vec<i64>,
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
    sequence_type: Option<Box<ElementTypeProto>>,
    #[prost(message, optional, boxed, tag = "5")]
    map_type: Option<Box<MapTypeProto>>,
    #[prost(message, optional, tag = "8")]
    sparse_tensor_type: Option<TensorTypeProto>,
    #[prost(message, optional, boxed, tag = "9")]
    optional_type: Option<Box<ElementTypeProto>>,
}

/// `TypeProto.Tensor` and `TypeProto.SparseTensor` (same fields).
#[derive(Clone, PartialEq, Message)]
struct TensorTypeProto {
    #[prost(message, optional, tag = "2")]
    shape: Option<TensorShapeProto>,
}

/// `TypeProto.Sequence` and `TypeProto.Optional` (field 1, `elem_type`).
#[derive(Clone, PartialEq, Message)]
struct ElementTypeProto {
    #[prost(message, optional, boxed, tag = "1")]
    elem_type: Option<Box<TypeProto>>,
}

#[derive(Clone, PartialEq, Message)]
struct MapTypeProto {
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
}

/// `TensorProto.DataLocation.EXTERNAL`.
const EXTERNAL: i32 = 1;

/// How a data type is stored: its ONNX name, bits per element in
/// `raw_data` (0: never in `raw_data`), and the typed field the spec
/// assigns it with how many elements share one value of that field.
#[derive(Debug, Clone, Copy)]
struct Layout {
    name: &'static str,
    bits: u32,
    field: Field,
    /// Values of `field` per element, as a fraction: complex64 takes two
    /// floats per element, int4 packs two elements into one int32 value.
    values_per_element: (u64, u64),
}

/// The typed data fields of `TensorProto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Float,
    Int32,
    String,
    Int64,
    Double,
    Uint64,
}

impl Field {
    const ALL: [Field; 6] = [
        Field::Float,
        Field::Int32,
        Field::String,
        Field::Int64,
        Field::Double,
        Field::Uint64,
    ];

    fn name(self) -> &'static str {
        match self {
            Field::Float => "float_data",
            Field::Int32 => "int32_data",
            Field::String => "string_data",
            Field::Int64 => "int64_data",
            Field::Double => "double_data",
            Field::Uint64 => "uint64_data",
        }
    }

    fn len(self, t: &TensorProto) -> usize {
        match self {
            Field::Float => t.float_data.len(),
            Field::Int32 => t.int32_data.len(),
            Field::String => t.string_data.len(),
            Field::Int64 => t.int64_data.len(),
            Field::Double => t.double_data.len(),
            Field::Uint64 => t.uint64_data.len(),
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `TensorProto.DataType` codes, as onnx.proto documents their storage.
fn layout(code: i32) -> Option<Layout> {
    let l = |name, bits, field, values_per_element| Layout {
        name,
        bits,
        field,
        values_per_element,
    };
    let one = (1, 1);
    Some(match code {
        1 => l("float", 32, Field::Float, one),
        2 => l("uint8", 8, Field::Int32, one),
        3 => l("int8", 8, Field::Int32, one),
        4 => l("uint16", 16, Field::Int32, one),
        5 => l("int16", 16, Field::Int32, one),
        6 => l("int32", 32, Field::Int32, one),
        7 => l("int64", 64, Field::Int64, one),
        8 => l("string", 0, Field::String, one),
        9 => l("bool", 8, Field::Int32, one),
        10 => l("float16", 16, Field::Int32, one),
        11 => l("double", 64, Field::Double, one),
        12 => l("uint32", 32, Field::Uint64, one),
        13 => l("uint64", 64, Field::Uint64, one),
        14 => l("complex64", 64, Field::Float, (2, 1)),
        15 => l("complex128", 128, Field::Double, (2, 1)),
        16 => l("bfloat16", 16, Field::Int32, one),
        17 => l("float8e4m3fn", 8, Field::Int32, one),
        18 => l("float8e4m3fnuz", 8, Field::Int32, one),
        19 => l("float8e5m2", 8, Field::Int32, one),
        20 => l("float8e5m2fnuz", 8, Field::Int32, one),
        21 => l("uint4", 4, Field::Int32, (1, 2)),
        22 => l("int4", 4, Field::Int32, (1, 2)),
        23 => l("float4e2m1", 4, Field::Int32, (1, 2)),
        24 => l("float8e8m0", 8, Field::Int32, one),
        25 => l("uint2", 2, Field::Int32, (1, 4)),
        26 => l("int2", 2, Field::Int32, (1, 4)),
        27 => l("float6e2m3", 6, Field::Int32, one),
        28 => l("float6e3m2", 6, Field::Int32, one),
        _ => return None,
    })
}

/// Why a model is refused: where, and what is wrong there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{place}: {problem}")]
pub struct OnnxCheckError {
    /// `initializer `W` of graph `g``, `attribute `value` of node `c`
    /// (Constant) of graph `g``, ...
    pub place: String,
    /// Boxed: the error travels through every loader's `Result`.
    pub problem: Box<Problem>,
}

/// What is wrong with one tensor (or declared shape).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error("not an ONNX ModelProto: {0}")]
    Protobuf(String),
    #[error(
        "its data is in an external file at `{location}`; Outpost takes self-contained models only and never opens another file (save the model with its tensors embedded)"
    )]
    ExternalData { location: String },
    #[error("data_location is {0}, neither DEFAULT (0) nor EXTERNAL (1)")]
    DataLocation(i32),
    #[error("it is a segment of a larger tensor, which Outpost does not assemble")]
    Segmented,
    #[error("data_type {0} is not a TensorProto.DataType")]
    UnknownType(i32),
    #[error("dimension {axis} is {dim}; a dimension cannot be negative")]
    NegativeDim { axis: usize, dim: i64 },
    #[error("dims {dims} make more than 2^64 - 1 elements")]
    CountOverflow { dims: String },
    #[error(
        "dims {dims} hold {count} {dtype} elements, which take {wanted} {unit} of {field}, but it holds {found}"
    )]
    LengthMismatch {
        dims: String,
        count: u64,
        dtype: &'static str,
        field: &'static str,
        unit: &'static str,
        wanted: u128,
        found: usize,
    },
    #[error("a string tensor keeps its strings in string_data; raw_data is not allowed")]
    StringInRawData,
    #[error("{field} holds data, but a {dtype} tensor keeps its data in {expected} or raw_data")]
    WrongField {
        field: Field,
        dtype: &'static str,
        expected: Field,
    },
    #[error("both raw_data and {0} hold data; a tensor has exactly one")]
    TwoSources(Field),
    #[error(
        "dimension {axis} is {dim}, beyond {MAX_DIM} (2^32 - 1), the largest a 32-bit (wasm32) runtime can index"
    )]
    DimTooLarge { axis: usize, dim: i64 },
    #[error("{count} elements of {dtype} do not fit this target's address space")]
    TooLarge { count: u64, dtype: &'static str },
    /// tract resolves a graph output by name and panics on one nothing
    /// produces (tract-onnx 0.23 `model.rs`, `outlets_by_name[...]`).
    #[error("no node output, graph input or initializer of its graph is named so")]
    UnproducedOutput,
    /// tract indexes these per spatial axis and panics past their end
    /// (tract-core 0.23 `ops/cnn/padding.rs`).
    #[error("{attribute} has {found} values, but its {axes} spatial axes need {wanted}")]
    WindowAttribute {
        attribute: &'static str,
        found: usize,
        axes: usize,
        wanted: usize,
    },
    #[error("sparse tensor {0}")]
    Sparse(String),
    #[error("sparse tensor {part}: {problem}")]
    SparsePart {
        part: &'static str,
        problem: Box<Problem>,
    },
}

/// At most this many characters of a name go into a message.
const NAME_CHARS: usize = 64;

fn short(name: &str) -> String {
    match name.char_indices().nth(NAME_CHARS) {
        Some((end, _)) => format!("{}…", &name[..end]),
        None => name.to_owned(),
    }
}

/// `[2, 3]`, with at most eight dimensions shown.
fn show_dims(dims: &[i64]) -> String {
    let shown: Vec<String> = dims.iter().take(8).map(i64::to_string).collect();
    if dims.len() > 8 {
        format!("[{}, … ({} dims)]", shown.join(", "), dims.len())
    } else {
        format!("[{}]", shown.join(", "))
    }
}

/// Element count of `dims`: each ≥ 0, multiplied overflow-free in `u64`.
fn element_count(dims: &[i64]) -> Result<u64, Problem> {
    let mut count: u64 = 1;
    for (axis, &dim) in dims.iter().enumerate() {
        let dim_u = u64::try_from(dim).map_err(|_| Problem::NegativeDim { axis, dim })?;
        count = count
            .checked_mul(dim_u)
            .ok_or_else(|| Problem::CountOverflow {
                dims: show_dims(dims),
            })?;
    }
    Ok(count)
}

/// Every dimension within [`MAX_DIM`] (run after the count matched the
/// data, so only empty tensors with a huge axis get here).
fn dims_fit_32_bits(dims: &[i64]) -> Result<(), Problem> {
    match dims
        .iter()
        .enumerate()
        .find(|(_, d)| !u64::try_from(**d).is_ok_and(|d| d <= MAX_DIM))
    {
        Some((axis, &dim)) => Err(Problem::DimTooLarge { axis, dim }),
        None => Ok(()),
    }
}

/// ⌈a · num / den⌉ in u128 (a < 2^64, num ≤ 128: no overflow).
fn ceil_mul(a: u64, num: u64, den: u64) -> u128 {
    (u128::from(a) * u128::from(num)).div_ceil(u128::from(den))
}

/// The checks of the module documentation, on one tensor.
fn check_tensor(t: &TensorProto) -> Result<(), Problem> {
    if t.data_location == EXTERNAL || !t.external_data.is_empty() {
        let location = t
            .external_data
            .iter()
            .find(|e| e.key == "location")
            .map_or_else(|| "(no location given)".to_owned(), |e| e.value.clone());
        return Err(Problem::ExternalData { location });
    }
    if t.data_location != 0 {
        return Err(Problem::DataLocation(t.data_location));
    }
    if t.segment.is_some() {
        return Err(Problem::Segmented);
    }
    let layout = layout(t.data_type).ok_or(Problem::UnknownType(t.data_type))?;
    let count = element_count(&t.dims)?;
    // Exactly one source of data: raw_data, or the field the type uses.
    for field in Field::ALL {
        if field != layout.field && field.len(t) > 0 {
            return Err(Problem::WrongField {
                field,
                dtype: layout.name,
                expected: layout.field,
            });
        }
    }
    let typed = layout.field.len(t);
    let (field, unit, wanted, found) = if !t.raw_data.is_empty() {
        if layout.bits == 0 {
            return Err(Problem::StringInRawData);
        }
        if typed > 0 {
            return Err(Problem::TwoSources(layout.field));
        }
        (
            "raw_data",
            "bytes",
            ceil_mul(count, u64::from(layout.bits), 8),
            t.raw_data.len(),
        )
    } else {
        let (num, den) = layout.values_per_element;
        (
            layout.field.name(),
            "values",
            ceil_mul(count, num, den),
            typed,
        )
    };
    if wanted != found as u128 {
        return Err(Problem::LengthMismatch {
            dims: show_dims(&t.dims),
            count,
            dtype: layout.name,
            field,
            unit,
            wanted,
            found,
        });
    }
    dims_fit_32_bits(&t.dims)?;
    // The data is in memory, so this holds wherever the length matched; it
    // is stated so that no later cast can truncate.
    let bytes = ceil_mul(count, u64::from(layout.bits.max(8)), 8);
    if usize::try_from(count).is_err() || usize::try_from(bytes).is_err() {
        return Err(Problem::TooLarge {
            count,
            dtype: layout.name,
        });
    }
    Ok(())
}

/// The int64 values of an indices tensor already checked by
/// [`check_tensor`] (so its length matches its dims).
fn int64_values(t: &TensorProto) -> Vec<i64> {
    if t.raw_data.is_empty() {
        return t.int64_data.clone();
    }
    t.raw_data
        .chunks_exact(8)
        .map(|c| {
            let mut b = [0u8; 8];
            b.copy_from_slice(c);
            i64::from_le_bytes(b)
        })
        .collect()
}

/// `SparseTensorProto`: `values` a 1-D tensor of NNZ elements, `indices`
/// int64 of shape `[NNZ, rank]` or `[NNZ]` (linearised), every index
/// inside `dims` (onnx.proto's SparseTensorProto comments).
fn check_sparse(s: &SparseTensorProto) -> Result<(), Problem> {
    let part = |part: &'static str| {
        move |p: Problem| Problem::SparsePart {
            part,
            problem: Box::new(p),
        }
    };
    let count = element_count(&s.dims).map_err(part("dims"))?;
    dims_fit_32_bits(&s.dims).map_err(part("dims"))?;
    let values = s
        .values
        .as_ref()
        .ok_or_else(|| Problem::Sparse("has no values".into()))?;
    check_tensor(values).map_err(part("values"))?;
    let [nnz] = values.dims[..] else {
        return Err(Problem::Sparse(format!(
            "values must be one-dimensional, got dims {}",
            show_dims(&values.dims)
        )));
    };
    let nnz = nnz.unsigned_abs();
    if nnz > count {
        return Err(Problem::Sparse(format!(
            "has {nnz} values for {count} elements"
        )));
    }
    let Some(indices) = &s.indices else {
        return if nnz == 0 {
            Ok(())
        } else {
            Err(Problem::Sparse("has values but no indices".into()))
        };
    };
    check_tensor(indices).map_err(part("indices"))?;
    if indices.data_type != 7 {
        return Err(Problem::Sparse("indices must be int64".into()));
    }
    let rank = s.dims.len() as u64;
    let linear = match indices.dims[..] {
        [n] if n.unsigned_abs() == nnz => true,
        [n, r] if n.unsigned_abs() == nnz && r.unsigned_abs() == rank => false,
        _ => {
            return Err(Problem::Sparse(format!(
                "indices have dims {}, not [{nnz}] or [{nnz}, {rank}]",
                show_dims(&indices.dims)
            )));
        }
    };
    let values = int64_values(indices);
    let out_of_range = if linear {
        values
            .iter()
            .position(|&i| !u64::try_from(i).is_ok_and(|i| i < count))
    } else {
        values.iter().enumerate().position(|(k, &i)| {
            let bound = s.dims.get(k % s.dims.len().max(1)).copied().unwrap_or(0);
            i < 0 || i >= bound
        })
    };
    match out_of_range {
        Some(at) => Err(Problem::Sparse(format!(
            "index {} (entry {at} of indices) is out of range for dims {}",
            values.get(at).copied().unwrap_or_default(),
            show_dims(&s.dims)
        ))),
        None => Ok(()),
    }
}

/// Fixed dimensions of a declared type (nested through sequences, maps
/// and optionals) within [`MAX_DIM`].
fn check_declared(ty: &TypeProto) -> Result<(), Problem> {
    let mut pending: Vec<&TypeProto> = vec![ty];
    while let Some(ty) = pending.pop() {
        for tensor in [&ty.tensor_type, &ty.sparse_tensor_type]
            .into_iter()
            .flatten()
        {
            let dims = tensor.shape.iter().flat_map(|s| &s.dim);
            for (axis, dim) in dims.enumerate() {
                if let Some(v) = dim.dim_value
                    && u64::try_from(v).is_ok_and(|v| v > MAX_DIM)
                {
                    return Err(Problem::DimTooLarge { axis, dim: v });
                }
            }
        }
        let nested = [
            ty.sequence_type
                .as_ref()
                .and_then(|s| s.elem_type.as_deref()),
            ty.optional_type
                .as_ref()
                .and_then(|s| s.elem_type.as_deref()),
            ty.map_type.as_ref().and_then(|m| m.value_type.as_deref()),
        ];
        pending.extend(nested.into_iter().flatten());
    }
    Ok(())
}

/// A graph still to check, with how to name it.
struct Pending<'a> {
    graph: &'a GraphProto,
    /// `graph `g``, `graph `body` (attribute `body` of node `loop` (Loop))`.
    place: String,
}

fn at(place: impl FnOnce() -> String) -> impl FnOnce(Problem) -> OnnxCheckError {
    move |problem| OnnxCheckError {
        place: place(),
        problem: Box::new(problem),
    }
}

/// Convolution and pooling: `kernel_shape`, `strides` and `dilations` have
/// one value per spatial axis and `pads` two. The spatial axes are the
/// kernel's: `kernel_shape`, or for a convolution the rank of its weight
/// initializer less two; when neither is known, nothing can be checked and
/// tract's own checks decide.
fn check_window(node: &NodeProto, graph: &GraphProto) -> Result<(), Problem> {
    const WINDOWED: [&str; 5] = ["Conv", "ConvTranspose", "MaxPool", "AveragePool", "LpPool"];
    if !WINDOWED.contains(&node.op_type.as_str()) {
        return Ok(());
    }
    let ints = |name: &str| {
        node.attribute
            .iter()
            .find(|a| a.name == name)
            .map(|a| a.ints.len())
    };
    let weight_rank = || {
        let weight = node.input.get(1)?;
        let w = graph.initializer.iter().find(|t| &t.name == weight)?;
        w.dims.len().checked_sub(2)
    };
    let Some(axes) = ints("kernel_shape").or_else(weight_rank) else {
        return Ok(());
    };
    for (attribute, per_axis) in [
        ("kernel_shape", 1),
        ("strides", 1),
        ("dilations", 1),
        ("pads", 2),
        ("output_padding", 1),
    ] {
        if let Some(found) = ints(attribute)
            && found != axes * per_axis
        {
            return Err(Problem::WindowAttribute {
                attribute,
                found,
                axes,
                wanted: axes * per_axis,
            });
        }
    }
    Ok(())
}

/// Checks a node's tensor attributes and queues its subgraphs.
fn check_node<'a>(
    node: &'a NodeProto,
    container: &str,
    pending: &mut Vec<Pending<'a>>,
) -> Result<(), OnnxCheckError> {
    let node_place = || {
        format!(
            "node `{}` ({}) of {container}",
            short(&node.name),
            short(&node.op_type)
        )
    };
    for attr in &node.attribute {
        let attr_place = || format!("attribute `{}` of {}", short(&attr.name), node_place());
        if let Some(t) = &attr.t {
            check_tensor(t).map_err(at(attr_place))?;
        }
        for (i, t) in attr.tensors.iter().enumerate() {
            check_tensor(t).map_err(at(|| format!("tensor {i} of {}", attr_place())))?;
        }
        if let Some(s) = &attr.sparse_tensor {
            check_sparse(s).map_err(at(attr_place))?;
        }
        for (i, s) in attr.sparse_tensors.iter().enumerate() {
            check_sparse(s).map_err(at(|| format!("sparse tensor {i} of {}", attr_place())))?;
        }
        for graph in attr.g.as_deref().into_iter().chain(&attr.graphs) {
            pending.push(Pending {
                graph,
                place: format!("graph `{}` ({})", short(&graph.name), attr_place()),
            });
        }
    }
    Ok(())
}

/// Checks every tensor of an ONNX model (see the module documentation).
/// Nesting is walked with an explicit stack; prost's decoder already
/// refuses messages nested deeper than 100 levels.
pub fn validate_onnx(bytes: &[u8]) -> Result<(), OnnxCheckError> {
    let model = ModelProto::decode(bytes).map_err(|e| OnnxCheckError {
        place: "the model".into(),
        problem: Box::new(Problem::Protobuf(e.to_string())),
    })?;
    let mut pending: Vec<Pending<'_>> = Vec::new();
    if let Some(graph) = &model.graph {
        pending.push(Pending {
            graph,
            place: format!("graph `{}`", short(&graph.name)),
        });
    }
    for (i, info) in model.training_info.iter().enumerate() {
        for (what, graph) in [
            ("initialization", &info.initialization),
            ("algorithm", &info.algorithm),
        ] {
            if let Some(graph) = graph {
                pending.push(Pending {
                    graph,
                    place: format!("{what} graph of training_info {i}"),
                });
            }
        }
    }
    for function in &model.functions {
        let place = format!("function `{}`", short(&function.name));
        for node in &function.node {
            check_node(node, &place, &mut pending)?;
        }
    }
    while let Some(Pending { graph, place }) = pending.pop() {
        for t in &graph.initializer {
            check_tensor(t).map_err(at(|| {
                format!("initializer `{}` of {place}", short(&t.name))
            }))?;
        }
        for (i, s) in graph.sparse_initializer.iter().enumerate() {
            check_sparse(s).map_err(at(|| format!("sparse initializer {i} of {place}")))?;
        }
        for (role, values) in [
            ("input", &graph.input),
            ("output", &graph.output),
            ("value_info", &graph.value_info),
        ] {
            for value in values {
                if let Some(ty) = &value.r#type {
                    check_declared(ty)
                        .map_err(at(|| format!("{role} `{}` of {place}", short(&value.name))))?;
                }
            }
        }
        for node in &graph.node {
            check_node(node, &place, &mut pending)?;
        }
        for node in &graph.node {
            check_window(node, graph).map_err(at(|| {
                format!(
                    "node `{}` ({}) of {place}",
                    short(&node.name),
                    short(&node.op_type)
                )
            }))?;
        }
        // Every output is produced inside its own graph.
        let produced = |name: &str| {
            graph.input.iter().any(|v| v.name == name)
                || graph.initializer.iter().any(|t| t.name == name)
                || graph
                    .node
                    .iter()
                    .any(|n| n.output.iter().any(|o| o == name))
        };
        if let Some(output) = graph.output.iter().find(|o| !produced(&o.name)) {
            return Err(OnnxCheckError {
                place: format!("output `{}` of {place}", short(&output.name)),
                problem: Box::new(Problem::UnproducedOutput),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    fn tensor(name: &str, data_type: i32, dims: &[i64]) -> TensorProto {
        TensorProto {
            name: name.into(),
            data_type,
            dims: dims.to_vec(),
            ..TensorProto::default()
        }
    }

    fn model_with(initializer: TensorProto) -> Vec<u8> {
        ModelProto {
            graph: Some(GraphProto {
                name: "g".into(),
                initializer: vec![initializer],
                ..GraphProto::default()
            }),
            ..ModelProto::default()
        }
        .encode_to_vec()
    }

    fn problem(bytes: &[u8]) -> Problem {
        *validate_onnx(bytes).unwrap_err().problem
    }

    fn float_raw(name: &str, dims: &[i64], values: usize) -> TensorProto {
        TensorProto {
            raw_data: vec![0; values * 4],
            ..tensor(name, 1, dims)
        }
    }

    #[test]
    fn well_formed_tensors_pass() {
        for t in [
            float_raw("W", &[2, 3], 6),
            TensorProto {
                float_data: vec![1.0; 6],
                ..tensor("W", 1, &[2, 3])
            },
            TensorProto {
                int64_data: vec![7],
                ..tensor("scalar", 7, &[])
            },
            tensor("empty", 1, &[0, 4]),
            TensorProto {
                string_data: vec![b"a".to_vec(), b"b".to_vec()],
                ..tensor("s", 8, &[2])
            },
            // Three int4 elements: two bytes raw, two int32 values typed.
            TensorProto {
                raw_data: vec![0, 0],
                ..tensor("q", 22, &[3])
            },
            TensorProto {
                int32_data: vec![0, 0],
                ..tensor("q", 22, &[3])
            },
            TensorProto {
                float_data: vec![0.0; 4],
                ..tensor("c", 14, &[2])
            },
            TensorProto {
                uint64_data: vec![1, 2],
                ..tensor("u", 12, &[2])
            },
        ] {
            let name = t.name.clone();
            assert_eq!(validate_onnx(&model_with(t)), Ok(()), "{name}");
        }
    }

    #[test]
    fn a_negative_dimension_is_refused() {
        let err = validate_onnx(&model_with(float_raw("W", &[2, -1], 0))).unwrap_err();
        assert_eq!(*err.problem, Problem::NegativeDim { axis: 1, dim: -1 });
        assert_eq!(
            err.to_string(),
            "initializer `W` of graph `g`: dimension 1 is -1; a dimension cannot be negative"
        );
    }

    #[test]
    fn an_element_count_past_u64_is_refused_not_wrapped() {
        // 2^32 · 2^32 = 2^64 wraps to 0 in u64; four empty bytes would pass.
        let dims = [1 << 32, 1 << 32];
        assert_eq!(
            problem(&model_with(float_raw("W", &dims, 0))),
            Problem::CountOverflow {
                dims: "[4294967296, 4294967296]".into()
            }
        );
        // A zero after the overflow does not rescue it.
        assert!(matches!(
            problem(&model_with(float_raw("W", &[1 << 40, 1 << 40, 0], 0))),
            Problem::CountOverflow { .. }
        ));
    }

    #[test]
    fn a_dimension_past_u32_with_little_data_is_a_length_mismatch() {
        // What wasm32's tract would read as one element.
        let err = validate_onnx(&model_with(float_raw("W", &[(1 << 32) + 1], 1))).unwrap_err();
        assert_eq!(
            err.to_string(),
            "initializer `W` of graph `g`: dims [4294967297] hold 4294967297 float elements, \
             which take 17179869188 bytes of raw_data, but it holds 4"
        );
        // On 32-bit targets the product of [65536, 65537] wraps to 65536.
        assert!(matches!(
            problem(&model_with(float_raw("W", &[65536, 65537], 65536))),
            Problem::LengthMismatch {
                count: 4_295_032_832,
                ..
            }
        ));
    }

    #[test]
    fn an_empty_tensor_with_a_huge_axis_is_refused_everywhere() {
        assert_eq!(
            problem(&model_with(float_raw("W", &[1 << 32, 0], 0))),
            Problem::DimTooLarge {
                axis: 0,
                dim: 1 << 32
            }
        );
    }

    #[test]
    fn raw_and_typed_lengths_must_match_the_dims() {
        assert!(matches!(
            problem(&model_with(float_raw("W", &[2, 2], 3))),
            Problem::LengthMismatch {
                field: "raw_data",
                wanted: 16,
                found: 12,
                ..
            }
        ));
        // A partial element is a mismatch too.
        let mut odd = float_raw("W", &[1], 1);
        odd.raw_data.push(0);
        assert!(matches!(
            problem(&model_with(odd)),
            Problem::LengthMismatch { found: 5, .. }
        ));
        let typed = TensorProto {
            int64_data: vec![1, 2, 3],
            ..tensor("I", 7, &[2, 2])
        };
        let err = validate_onnx(&model_with(typed)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "initializer `I` of graph `g`: dims [2, 2] hold 4 int64 elements, \
             which take 4 values of int64_data, but it holds 3"
        );
        let strings = TensorProto {
            string_data: vec![b"a".to_vec()],
            ..tensor("S", 8, &[2])
        };
        assert!(matches!(
            problem(&model_with(strings)),
            Problem::LengthMismatch { found: 1, .. }
        ));
        // No data at all for a non-empty tensor.
        assert!(matches!(
            problem(&model_with(tensor("W", 11, &[3]))),
            Problem::LengthMismatch {
                field: "double_data",
                found: 0,
                ..
            }
        ));
    }

    #[test]
    fn data_must_come_from_one_field_the_type_allows() {
        let strings_raw = TensorProto {
            raw_data: b"abcd".to_vec(),
            ..tensor("S", 8, &[1])
        };
        assert_eq!(problem(&model_with(strings_raw)), Problem::StringInRawData);
        let both = TensorProto {
            float_data: vec![1.0],
            ..float_raw("W", &[1], 1)
        };
        assert_eq!(
            problem(&model_with(both)),
            Problem::TwoSources(Field::Float)
        );
        let wrong = TensorProto {
            int64_data: vec![1],
            ..tensor("W", 1, &[1])
        };
        assert_eq!(
            problem(&model_with(wrong)),
            Problem::WrongField {
                field: Field::Int64,
                dtype: "float",
                expected: Field::Float
            }
        );
        assert_eq!(
            problem(&model_with(tensor("W", 99, &[]))),
            Problem::UnknownType(99)
        );
        assert_eq!(
            problem(&model_with(tensor("W", 0, &[]))),
            Problem::UnknownType(0)
        );
    }

    #[test]
    fn external_data_is_refused_naming_its_location() {
        let external = TensorProto {
            data_location: EXTERNAL,
            external_data: vec![StringStringEntryProto {
                key: "location".into(),
                value: "../../etc/passwd".into(),
            }],
            ..tensor("W", 1, &[2, 2])
        };
        let err = validate_onnx(&model_with(external)).unwrap_err();
        assert_eq!(
            *err.problem,
            Problem::ExternalData {
                location: "../../etc/passwd".into()
            }
        );
        assert!(err.to_string().contains("`../../etc/passwd`"));
        // external_data without data_location still names a file.
        let sneaky = TensorProto {
            external_data: vec![StringStringEntryProto {
                key: "location".into(),
                value: "/etc/shadow".into(),
            }],
            ..float_raw("W", &[1], 1)
        };
        assert!(matches!(
            problem(&model_with(sneaky)),
            Problem::ExternalData { .. }
        ));
        let segmented = TensorProto {
            segment: Some(Segment { begin: 0, end: 1 }),
            ..float_raw("W", &[1], 1)
        };
        assert_eq!(problem(&model_with(segmented)), Problem::Segmented);
    }

    #[test]
    fn tensors_in_attributes_and_subgraphs_are_checked() {
        let bad = float_raw("value", &[(1 << 32) + 1], 1);
        let constant = |t: TensorProto| NodeProto {
            input: vec![],
            output: vec![],
            name: "c".into(),
            op_type: "Constant".into(),
            attribute: vec![AttributeProto {
                name: "value".into(),
                t: Some(t),
                ..AttributeProto::default()
            }],
        };
        let body = GraphProto {
            name: "then".into(),
            node: vec![constant(bad.clone())],
            ..GraphProto::default()
        };
        let model = ModelProto {
            graph: Some(GraphProto {
                name: "g".into(),
                node: vec![NodeProto {
                    input: vec![],
                    output: vec![],
                    name: "branch".into(),
                    op_type: "If".into(),
                    attribute: vec![AttributeProto {
                        name: "then_branch".into(),
                        g: Some(Box::new(body)),
                        ..AttributeProto::default()
                    }],
                }],
                ..GraphProto::default()
            }),
            ..ModelProto::default()
        };
        let err = validate_onnx(&model.encode_to_vec()).unwrap_err();
        assert_eq!(
            err.place,
            "attribute `value` of node `c` (Constant) of graph `then` \
             (attribute `then_branch` of node `branch` (If) of graph `g`)"
        );
        let function = ModelProto {
            functions: vec![FunctionProto {
                name: "f".into(),
                node: vec![constant(bad)],
            }],
            ..ModelProto::default()
        };
        assert!(validate_onnx(&function.encode_to_vec()).is_err());
    }

    #[test]
    fn sparse_tensors_are_checked() {
        let sparse = |dims: Vec<i64>, index: i64| SparseTensorProto {
            values: Some(float_raw("v", &[1], 1)),
            indices: Some(TensorProto {
                int64_data: vec![index],
                ..tensor("i", 7, &[1])
            }),
            dims,
        };
        let model = |s: SparseTensorProto| {
            ModelProto {
                graph: Some(GraphProto {
                    sparse_initializer: vec![s],
                    ..GraphProto::default()
                }),
                ..ModelProto::default()
            }
            .encode_to_vec()
        };
        assert_eq!(validate_onnx(&model(sparse(vec![4], 3))), Ok(()));
        assert!(matches!(
            problem(&model(sparse(vec![4], 4))),
            Problem::Sparse(message) if message.contains("out of range")
        ));
        assert!(matches!(
            problem(&model(sparse(vec![-4], 0))),
            Problem::SparsePart { part: "dims", .. }
        ));
        let mut bad_values = sparse(vec![4], 0);
        bad_values.values = Some(float_raw("v", &[1 << 33], 1));
        assert!(matches!(
            problem(&model(bad_values)),
            Problem::SparsePart { part: "values", .. }
        ));
    }

    #[test]
    fn declared_shapes_past_u32_are_refused_unknown_ones_kept() {
        let model = |dim: i64| {
            ModelProto {
                graph: Some(GraphProto {
                    name: "g".into(),
                    input: vec![ValueInfoProto {
                        name: "X".into(),
                        r#type: Some(TypeProto {
                            tensor_type: Some(TensorTypeProto {
                                shape: Some(TensorShapeProto {
                                    dim: vec![DimensionProto {
                                        dim_value: Some(dim),
                                    }],
                                }),
                            }),
                            ..TypeProto::default()
                        }),
                    }],
                    ..GraphProto::default()
                }),
                ..ModelProto::default()
            }
            .encode_to_vec()
        };
        assert_eq!(validate_onnx(&model(-1)), Ok(()));
        assert_eq!(validate_onnx(&model(4)), Ok(()));
        let err = validate_onnx(&model(1 << 32)).unwrap_err();
        assert_eq!(err.place, "input `X` of graph `g`");
        assert!(matches!(*err.problem, Problem::DimTooLarge { .. }));
    }

    #[test]
    fn garbage_is_a_protobuf_error_not_a_panic() {
        assert!(matches!(problem(&[0xff, 0xff, 0xff]), Problem::Protobuf(_)));
    }

    /// Found by the `onnx_load` fuzz target: tract panicked on a graph
    /// output that nothing produces.
    #[test]
    fn a_graph_output_nothing_produces_is_refused() {
        let value = |name: &str| ValueInfoProto {
            name: name.into(),
            r#type: None,
        };
        let model = ModelProto {
            graph: Some(GraphProto {
                name: "g".into(),
                input: vec![value("X")],
                node: vec![NodeProto {
                    input: vec!["X".into()],
                    output: vec!["Y".into()],
                    name: "n".into(),
                    op_type: "Relu".into(),
                    attribute: vec![],
                }],
                output: vec![value("Y"), value("X"), value("Z")],
                ..GraphProto::default()
            }),
            ..ModelProto::default()
        };
        let err = validate_onnx(&model.encode_to_vec()).unwrap_err();
        assert_eq!(err.place, "output `Z` of graph `g`");
        assert_eq!(*err.problem, Problem::UnproducedOutput);
        let crash = include_bytes!(
            "../../../tests/fuzz/corpus/onnx_load/crash-6b2e2fe863d76e99a6517ce9eb9aa994913e76f0"
        );
        assert!(validate_onnx(crash).is_err());
        #[cfg(feature = "runtime")]
        assert!(crate::Model::load(crash).is_err());
    }

    /// Found by the `onnx_load` fuzz target: tract indexed `pads` per
    /// spatial axis past its end.
    #[test]
    fn window_attributes_must_fit_the_kernel() {
        let finding =
            include_bytes!("../../../tests/fuzz/findings/onnx_load-tract-padding-index.onnx");
        let err = validate_onnx(finding).unwrap_err();
        assert!(
            matches!(*err.problem, Problem::WindowAttribute { .. }),
            "{err}"
        );
        #[cfg(feature = "runtime")]
        assert!(crate::Model::load(finding).is_err());
    }
}
