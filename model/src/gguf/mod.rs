//! GGUF files (llama.cpp's format): a header, typed metadata, tensor descriptions, then
//! the tensors' data, aligned. Every length and offset read from the file is checked
//! before it is used: a damaged or hostile file is refused with a [`GgufError`], never
//! a panic or an allocation it names.

mod llama;
mod quant;

use std::collections::BTreeMap;

pub use llama::load;
pub use quant::TensorType;

/// The weights' file of a GGUF model directory.
pub const GGUF_FILE: &str = "model.gguf";

const MAGIC: &[u8; 4] = b"GGUF";
const ALIGNMENT_DEFAULT: u64 = 32;
/// Longest string a file may hold (a chat template, a token).
const STRING_BYTES_MAX: u64 = 1 << 20;
/// Most elements of one metadata array (a vocabulary's tokens or merges), and of all
/// arrays together (each element takes 32 bytes parsed, however few in the file).
const ARRAY_LEN_MAX: u64 = 1 << 22;
/// Most bytes a model's weights take once dequantized to f32.
pub const WEIGHTS_F32_BYTES_MAX: u64 = 16 << 30;
/// Most metadata entries and tensors.
const ENTRIES_MAX: u64 = 1 << 16;
/// Most dimensions of a tensor.
const DIMS_MAX: u32 = 4;

/// Why a GGUF file was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GgufError {
    /// The file does not start with `GGUF`.
    #[error("not a GGUF file (magic {found:?})")]
    Magic {
        /// The first four bytes.
        found: [u8; 4],
    },
    /// A version this reader does not know.
    #[error("GGUF version {version}; versions 2 and 3 are read")]
    Version {
        /// The version.
        version: u32,
    },
    /// The file ends before what it declares.
    #[error("the file ends at {len} bytes; {what} needs {needed}")]
    Truncated {
        /// What was being read.
        what: &'static str,
        /// Bytes the read needed, from the start.
        needed: u64,
        /// The file's length.
        len: u64,
    },
    /// A count or length above its limit.
    #[error("{what} is {value}; the limit is {max}")]
    TooLarge {
        /// What.
        what: &'static str,
        /// Its value.
        value: u64,
        /// The limit.
        max: u64,
    },
    /// A metadata value type this reader does not know.
    #[error("metadata {key} has value type {value_type}")]
    ValueType {
        /// The key.
        key: String,
        /// Its type.
        value_type: u32,
    },
    /// A string that is not UTF-8.
    #[error("a string at byte {at} is not UTF-8")]
    Utf8 {
        /// Where.
        at: u64,
    },
    /// A metadata key the model needs is absent or of another type.
    #[error("metadata {key} is missing or not {expected}")]
    Metadata {
        /// The key.
        key: String,
        /// The type expected.
        expected: &'static str,
    },
    /// A tensor of an element type this reader does not dequantize.
    #[error("tensor {name} has type {tensor_type}; F32, F16, BF16, Q4_0, Q4_1 and Q8_0 are read")]
    TensorType {
        /// The tensor.
        name: String,
        /// Its type number.
        tensor_type: u32,
    },
    /// A tensor's element count does not fill whole quantization blocks.
    #[error("tensor {name} has {elements} elements, not whole blocks of {block}")]
    Blocks {
        /// The tensor.
        name: String,
        /// Its elements.
        elements: u64,
        /// The block length.
        block: u64,
    },
}

/// A metadata value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// Any integer type, widened.
    Int(i128),
    /// `f32` or `f64`.
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// A string.
    Text(String),
    /// An array.
    Array(Vec<Value>),
}

/// Where a tensor's data is and how it is stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorInfo {
    /// Its dimensions, fastest-varying first (`[columns, rows]` for a matrix).
    pub dims: Vec<u64>,
    /// Its element type.
    pub tensor_type: TensorType,
    /// Start of its data, from the start of the file.
    pub start: u64,
    /// Bytes of its data.
    pub bytes: u64,
}

impl TensorInfo {
    /// Its element count.
    pub fn elements(&self) -> u64 {
        let (block, block_bytes) = self.tensor_type.block();
        self.bytes / block_bytes * block
    }
}

/// A parsed GGUF file.
#[derive(Clone, Debug, PartialEq)]
pub struct GgufFile {
    /// Metadata by key.
    pub metadata: BTreeMap<String, Value>,
    /// Tensors by name.
    pub tensors: BTreeMap<String, TensorInfo>,
}

/// A cursor over the file's bytes that never reads past them.
struct Reader<'a> {
    bytes: &'a [u8],
    at: u64,
    /// Array elements read so far, all arrays together.
    array_elements: u64,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: u64, what: &'static str) -> Result<&'a [u8], GgufError> {
        let len = self.bytes.len() as u64;
        let end = self.at.checked_add(n).filter(|end| *end <= len);
        let Some(end) = end else {
            let needed = self.at.saturating_add(n);
            return Err(GgufError::Truncated { what, needed, len });
        };
        let slice = &self.bytes[self.at as usize..end as usize];
        self.at = end;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], GgufError> {
        let slice = self.take(N as u64, what)?;
        Ok(slice.try_into().expect("took N bytes"))
    }

    fn u32(&mut self, what: &'static str) -> Result<u32, GgufError> {
        self.array(what).map(u32::from_le_bytes)
    }

    fn u64(&mut self, what: &'static str) -> Result<u64, GgufError> {
        self.array(what).map(u64::from_le_bytes)
    }

    fn count(&mut self, what: &'static str, max: u64) -> Result<u64, GgufError> {
        let value = self.u64(what)?;
        match value <= max {
            true => Ok(value),
            false => Err(GgufError::TooLarge { what, value, max }),
        }
    }

    fn string(&mut self, what: &'static str) -> Result<String, GgufError> {
        let len = self.count(what, STRING_BYTES_MAX)?;
        let at = self.at;
        let bytes = self.take(len, what)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| GgufError::Utf8 { at })
    }

    fn value(&mut self, key: &str, value_type: u32) -> Result<Value, GgufError> {
        const WHAT: &str = "a metadata value";
        Ok(match value_type {
            0 => Value::Int(i128::from(self.array::<1>(WHAT)?[0])),
            1 => Value::Int(i128::from(i8::from_le_bytes(self.array(WHAT)?))),
            2 => Value::Int(i128::from(u16::from_le_bytes(self.array(WHAT)?))),
            3 => Value::Int(i128::from(i16::from_le_bytes(self.array(WHAT)?))),
            4 => Value::Int(i128::from(self.u32(WHAT)?)),
            5 => Value::Int(i128::from(i32::from_le_bytes(self.array(WHAT)?))),
            6 => Value::Float(f64::from(f32::from_le_bytes(self.array(WHAT)?))),
            7 => Value::Bool(self.array::<1>(WHAT)?[0] != 0),
            8 => Value::Text(self.string(WHAT)?),
            9 => {
                let element_type = self.u32(WHAT)?;
                let len = self.count("a metadata array's length", ARRAY_LEN_MAX)?;
                self.array_elements = self.array_elements.saturating_add(len);
                if self.array_elements > ARRAY_LEN_MAX {
                    return Err(GgufError::TooLarge {
                        what: "the metadata arrays' elements",
                        value: self.array_elements,
                        max: ARRAY_LEN_MAX,
                    });
                }
                if element_type == 9 {
                    return Err(GgufError::ValueType {
                        key: key.to_owned(),
                        value_type: 9,
                    });
                }
                let mut values = Vec::new();
                for _ in 0..len {
                    values.push(self.value(key, element_type)?);
                }
                Value::Array(values)
            }
            10 => Value::Int(i128::from(self.u64(WHAT)?)),
            11 => Value::Int(i128::from(i64::from_le_bytes(self.array(WHAT)?))),
            12 => Value::Float(f64::from_le_bytes(self.array(WHAT)?)),
            value_type => {
                return Err(GgufError::ValueType {
                    key: key.to_owned(),
                    value_type,
                });
            }
        })
    }
}

impl GgufFile {
    /// Parses the header, metadata and tensor descriptions of `bytes`, checking that
    /// every tensor's data lies within them.
    pub fn parse(bytes: &[u8]) -> Result<Self, GgufError> {
        let mut reader = Reader {
            bytes,
            at: 0,
            array_elements: 0,
        };
        let magic = reader.array::<4>("the magic")?;
        if &magic != MAGIC {
            return Err(GgufError::Magic { found: magic });
        }
        let version = reader.u32("the version")?;
        if !(2..=3).contains(&version) {
            return Err(GgufError::Version { version });
        }
        let tensor_count = reader.count("the tensor count", ENTRIES_MAX)?;
        let metadata_count = reader.count("the metadata count", ENTRIES_MAX)?;
        let mut metadata = BTreeMap::new();
        for _ in 0..metadata_count {
            let key = reader.string("a metadata key")?;
            let value_type = reader.u32("a metadata value type")?;
            let value = reader.value(&key, value_type)?;
            metadata.insert(key, value);
        }
        let mut described = Vec::new();
        for _ in 0..tensor_count {
            let name = reader.string("a tensor name")?;
            let n_dims = reader.u32("a tensor's dimension count")?;
            if n_dims == 0 || n_dims > DIMS_MAX {
                let (value, max) = (u64::from(n_dims), u64::from(DIMS_MAX));
                return Err(GgufError::TooLarge {
                    what: "a tensor's dimension count",
                    value,
                    max,
                });
            }
            let dims = (0..n_dims)
                .map(|_| reader.u64("a tensor dimension"))
                .collect::<Result<Vec<_>, _>>()?;
            let type_number = reader.u32("a tensor type")?;
            let offset = reader.u64("a tensor offset")?;
            described.push((name, dims, type_number, offset));
        }
        let alignment = match metadata.get("general.alignment") {
            Some(Value::Int(alignment)) if *alignment > 0 && *alignment <= 1 << 16 => *alignment as u64,
            _ => ALIGNMENT_DEFAULT,
        };
        let data_start = reader.at.div_ceil(alignment).saturating_mul(alignment);
        let mut tensors = BTreeMap::new();
        let mut f32_bytes = 0u64;
        for (name, dims, type_number, offset) in described {
            let info = describe(&name, dims, type_number, data_start.saturating_add(offset))?;
            let end = info.start.checked_add(info.bytes);
            if end.is_none_or(|end| end > bytes.len() as u64) {
                return Err(GgufError::Truncated {
                    what: "a tensor's data",
                    needed: end.unwrap_or(u64::MAX),
                    len: bytes.len() as u64,
                });
            }
            f32_bytes = f32_bytes.saturating_add(info.elements().saturating_mul(4));
            if f32_bytes > WEIGHTS_F32_BYTES_MAX {
                return Err(GgufError::TooLarge {
                    what: "the weights' bytes as f32",
                    value: f32_bytes,
                    max: WEIGHTS_F32_BYTES_MAX,
                });
            }
            tensors.insert(name, info);
        }
        Ok(Self { metadata, tensors })
    }

    /// The integer metadata `key`.
    pub fn int(&self, key: &str) -> Result<u64, GgufError> {
        match self.metadata.get(key) {
            Some(Value::Int(value)) if *value >= 0 => u64::try_from(*value).map_err(|_| missing(key, "an integer")),
            _ => Err(missing(key, "an integer")),
        }
    }

    /// The number metadata `key`.
    pub fn float(&self, key: &str) -> Result<f64, GgufError> {
        match self.metadata.get(key) {
            Some(Value::Float(value)) => Ok(*value),
            Some(Value::Int(value)) => Ok(*value as f64),
            _ => Err(missing(key, "a number")),
        }
    }

    /// The string metadata `key`.
    pub fn text(&self, key: &str) -> Result<&str, GgufError> {
        match self.metadata.get(key) {
            Some(Value::Text(text)) => Ok(text),
            _ => Err(missing(key, "a string")),
        }
    }

    /// The array metadata `key`.
    pub fn array(&self, key: &str) -> Result<&[Value], GgufError> {
        match self.metadata.get(key) {
            Some(Value::Array(values)) => Ok(values),
            _ => Err(missing(key, "an array")),
        }
    }
}

fn missing(key: &str, expected: &'static str) -> GgufError {
    GgufError::Metadata {
        key: key.to_owned(),
        expected,
    }
}

/// A tensor's description, its element count checked against its type's blocks.
fn describe(name: &str, dims: Vec<u64>, type_number: u32, start: u64) -> Result<TensorInfo, GgufError> {
    let tensor_type = TensorType::of(type_number).ok_or_else(|| GgufError::TensorType {
        name: name.to_owned(),
        tensor_type: type_number,
    })?;
    let elements = dims
        .iter()
        .try_fold(1u64, |product, dim| product.checked_mul(*dim))
        .filter(|elements| *elements <= 1 << 34)
        .ok_or(GgufError::TooLarge {
            what: "a tensor's element count",
            value: u64::MAX,
            max: 1 << 34,
        })?;
    let (block, block_bytes) = tensor_type.block();
    if !elements.is_multiple_of(block) {
        return Err(GgufError::Blocks {
            name: name.to_owned(),
            elements,
            block,
        });
    }
    Ok(TensorInfo {
        dims,
        tensor_type,
        start,
        bytes: elements / block * block_bytes,
    })
}
