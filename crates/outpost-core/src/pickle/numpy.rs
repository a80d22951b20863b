//! How many bytes joblib reads after a `NumpyArrayWrapper`, from the
//! wrapper's attributes as the pickle set them.
//!
//! `joblib.numpy_pickle.NumpyArrayWrapper.read_array` (joblib ≥ 0.10): the
//! element count is the product of `shape` (1 for `()`); if `dtype.hasobject`
//! the array is a nested `pickle.load`; otherwise, when the wrapper has a
//! non-`None` `numpy_array_alignment_bytes` (joblib ≥ 1.2), one byte giving a
//! padding length and that much padding come first, then `count *
//! dtype.itemsize` raw bytes. `read_mmap` consumes the same bytes.
//!
//! `itemsize` and `hasobject` come from the dtype's pickle: `numpy.dtype(typestr,
//! align, copy)` then `BUILD` with the state tuple `arraydescr_setstate`
//! (numpy `descriptor.c`) reads: for versions 3 and 4 the object flag is
//! taken verbatim from the state, and the item size of flexible kinds (`S`,
//! `U`, `V`) is the state's `elsize`. Anything outside the shapes numpy and
//! joblib write is refused rather than guessed.

use super::machine::{Obj, Val};

/// What joblib consumes for one wrapper.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ArrayRead {
    /// `pickle.load(file)`: a whole nested pickle (arrays of objects).
    Pickled,
    /// Raw array bytes, after a padding byte and padding if `padded`.
    Raw { padded: bool, bytes: u64 },
}

/// How deep a structured dtype may nest, and how many dtypes one scan may
/// size in all (each array wrapper sizes its dtype again), before the scan
/// gives up.
const MAX_DTYPE_DEPTH: usize = 8;
pub(super) const DTYPE_BUDGET: usize = 1 << 20;

pub(super) fn array_read(
    heap: &[Obj],
    wrapper: &Val,
    budget: &mut usize,
) -> Result<ArrayRead, String> {
    let inst = match wrapper {
        Val::Ref(index) => match heap.get(*index) {
            Some(Obj::Instance(inst)) => inst,
            _ => return Err("a joblib array wrapper that is not an object".into()),
        },
        _ => return Err("a joblib array wrapper that is not an object".into()),
    };
    let attrs = inst.attrs.as_ref().ok_or(
        "a joblib array wrapper whose attributes the scanner cannot see (built by its constructor or from hidden state)",
    )?;
    let attr = |name: &str| {
        attrs
            .iter()
            .find(|(key, _)| key.as_ref() == name)
            .map(|(_, value)| value)
    };
    let shape = attr("shape").ok_or("a joblib array wrapper without a shape")?;
    let dtype = attr("dtype").ok_or("a joblib array wrapper without a dtype")?;
    // `getattr(self, "numpy_array_alignment_bytes", None)`.
    let padded = !matches!(attr("numpy_array_alignment_bytes"), None | Some(Val::None));
    let count = element_count(heap, shape)?;
    let dtype = describe(heap, dtype, 0, budget)?;
    if dtype.has_object {
        return Ok(ArrayRead::Pickled);
    }
    if dtype.itemsize == 0 {
        return Err("a joblib array of zero-sized items".into());
    }
    let bytes = count
        .checked_mul(dtype.itemsize)
        .ok_or("a joblib array whose size overflows")?;
    Ok(ArrayRead::Raw { padded, bytes })
}

fn element_count(heap: &[Obj], shape: &Val) -> Result<u64, String> {
    let dims = match shape {
        Val::Tuple(seq) => seq.complete(),
        Val::Ref(index) => match heap.get(*index) {
            Some(Obj::List(seq)) => seq.complete(),
            _ => None,
        },
        _ => None,
    }
    .ok_or("a joblib array shape the scanner cannot see")?;
    dims.iter()
        .try_fold(1u64, |count, dim| {
            let dim = match dim {
                Val::Int(Some(n)) => u64::try_from(*n).map_err(|_| "a negative array dimension")?,
                Val::Bool(b) => u64::from(*b),
                _ => return Err("an array dimension the scanner cannot see"),
            };
            count.checked_mul(dim).ok_or("an array size that overflows")
        })
        .map_err(str::to_owned)
}

#[derive(Debug, Clone, Copy)]
struct Dtype {
    itemsize: u64,
    has_object: bool,
}

fn describe(heap: &[Obj], dtype: &Val, depth: usize, budget: &mut usize) -> Result<Dtype, String> {
    if depth > MAX_DTYPE_DEPTH || *budget == 0 {
        return Err("dtypes nested too deeply or too many to scan".into());
    }
    *budget -= 1;
    let unseen = || "a dtype the scanner cannot see".to_owned();
    let inst = match dtype {
        Val::Ref(index) => match heap.get(*index) {
            Some(Obj::Instance(inst)) if inst.is(super::allow::NUMPY_DTYPE) && !inst.kwargs => inst,
            _ => return Err(unseen()),
        },
        _ => return Err(unseen()),
    };
    let args = match &inst.args {
        Some(Val::Tuple(seq)) => seq.complete().ok_or_else(unseen)?,
        _ => return Err(unseen()),
    };
    let (typestr, copy) = match args {
        [Val::Str(typestr, true), _align, copy] => (typestr.as_ref(), truthy(copy)),
        _ => return Err(unseen()),
    };
    // `copy=False` may hand back numpy's shared built-in descriptor, whose
    // __setstate__ does nothing; numpy always pickles `copy=True`.
    if copy != Some(true) {
        return Err("a dtype built without copy=True".into());
    }
    let typestr = typestr.trim_start_matches(['<', '>', '=', '|']);
    let mut chars = typestr.chars();
    let kind = chars.next().ok_or_else(unseen)?;
    let size: u64 = chars.as_str().parse().map_err(|_| unseen())?;
    let state = match &inst.state {
        None => None,
        Some(Val::Tuple(seq)) => Some(seq.complete().ok_or_else(unseen)?),
        Some(_) => return Err(unseen()),
    };
    let state = match state {
        None => None,
        Some(
            [
                Val::Int(Some(version)),
                _endian,
                subarray,
                _names,
                fields,
                Val::Int(Some(elsize)),
                _alignment,
                Val::Int(Some(flags)),
            ]
            | [
                Val::Int(Some(version)),
                _endian,
                subarray,
                _names,
                fields,
                Val::Int(Some(elsize)),
                _alignment,
                Val::Int(Some(flags)),
                _,
            ],
        ) => {
            // Versions below 3 recompute the flags from the fields.
            if !matches!(version, 3 | 4) || !matches!(subarray, Val::None) {
                return Err(unseen());
            }
            // numpy once stored the flags as a signed char.
            let flags = if (-128..0).contains(flags) {
                flags + 128
            } else {
                *flags
            };
            if flags < 0 {
                return Err(unseen());
            }
            Some((flags & 1 == 1, *elsize, fields))
        }
        Some(_) => return Err(unseen()),
    };
    let fixed = match (kind, size) {
        ('b', 1)
        | ('i' | 'u', 1 | 2 | 4 | 8)
        | ('f', 2 | 4 | 8)
        | ('c', 8 | 16)
        | ('M' | 'm', 8) => true,
        ('O', 4 | 8) | ('S' | 'U' | 'V', _) => false,
        _ => return Err(format!("a dtype `{typestr}` the scanner does not size")),
    };
    let (has_object, itemsize) = match state {
        None if fixed => (false, size),
        None if kind == 'O' => (true, size),
        None => return Err(unseen()),
        Some((flag, elsize, fields)) => {
            let real = match (kind, fields) {
                ('O', _) => true,
                ('V', Val::Ref(index)) => match heap.get(*index) {
                    Some(Obj::Dict(dict)) if dict.certain => {
                        let mut any = false;
                        for (_, field) in &dict.items {
                            let field_dtype = match field {
                                Val::Tuple(seq) => seq.items.first().ok_or_else(unseen)?,
                                _ => return Err(unseen()),
                            };
                            any |= describe(heap, field_dtype, depth + 1, budget)?.has_object;
                        }
                        any
                    }
                    _ => return Err(unseen()),
                },
                (_, Val::None) => false,
                _ => return Err(unseen()),
            };
            if real != flag {
                return Err("a dtype whose object flag disagrees with its type".into());
            }
            let itemsize = if fixed || kind == 'O' {
                size
            } else {
                u64::try_from(elsize).map_err(|_| unseen())?
            };
            (flag, itemsize)
        }
    };
    Ok(Dtype {
        itemsize,
        has_object,
    })
}

fn truthy(value: &Val) -> Option<bool> {
    match value {
        Val::Bool(b) => Some(*b),
        Val::Int(Some(n)) => Some(*n != 0),
        Val::None => Some(false),
        _ => None,
    }
}
