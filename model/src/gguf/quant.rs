//! Element types of GGUF tensors, and their dequantization to `f32`.

use half::{bf16, f16};

/// An element type this reader dequantizes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TensorType {
    /// 32-bit floats.
    F32,
    /// 16-bit floats.
    F16,
    /// bfloat16.
    Bf16,
    /// Blocks of 32: an f16 scale, 32 four-bit values less 8.
    Q4_0,
    /// Blocks of 32: an f16 scale and minimum, 32 four-bit values.
    Q4_1,
    /// Blocks of 32: an f16 scale, 32 signed bytes.
    Q8_0,
}

impl TensorType {
    /// The type numbered `number` in the file, if read here.
    pub fn of(number: u32) -> Option<Self> {
        Some(match number {
            0 => TensorType::F32,
            1 => TensorType::F16,
            2 => TensorType::Q4_0,
            3 => TensorType::Q4_1,
            8 => TensorType::Q8_0,
            30 => TensorType::Bf16,
            _ => return None,
        })
    }

    /// Elements per block, and bytes per block.
    pub fn block(self) -> (u64, u64) {
        match self {
            TensorType::F32 => (1, 4),
            TensorType::F16 | TensorType::Bf16 => (1, 2),
            TensorType::Q4_0 => (32, 18),
            TensorType::Q4_1 => (32, 20),
            TensorType::Q8_0 => (32, 34),
        }
    }

    /// The values `data` (whole blocks of this type) holds.
    pub fn dequantize(self, data: &[u8]) -> Vec<f32> {
        let (block, block_bytes) = self.block();
        let mut values = Vec::with_capacity(data.len() / block_bytes as usize * block as usize);
        for block in data.chunks_exact(block_bytes as usize) {
            match self {
                TensorType::F32 => values.push(f32::from_le_bytes([block[0], block[1], block[2], block[3]])),
                TensorType::F16 => values.push(f16::from_le_bytes([block[0], block[1]]).to_f32()),
                TensorType::Bf16 => values.push(bf16::from_le_bytes([block[0], block[1]]).to_f32()),
                TensorType::Q4_0 => nibbles(&block[2..18], scale(block, 0), -8.0 * scale(block, 0), &mut values),
                TensorType::Q4_1 => nibbles(&block[4..20], scale(block, 0), scale(block, 2), &mut values),
                TensorType::Q8_0 => {
                    let d = scale(block, 0);
                    values.extend(block[2..34].iter().map(|q| f32::from(*q as i8) * d));
                }
            }
        }
        values
    }
}

/// The f16 at `at` of a block.
fn scale(block: &[u8], at: usize) -> f32 {
    f16::from_le_bytes([block[at], block[at + 1]]).to_f32()
}

/// 32 values from 16 bytes: the low nibbles are the first 16, the high the rest, each
/// `q * d + m`.
fn nibbles(packed: &[u8], d: f32, m: f32, values: &mut Vec<f32>) {
    values.extend(packed.iter().map(|byte| f32::from(byte & 0x0f) * d + m));
    values.extend(packed.iter().map(|byte| f32::from(byte >> 4) * d + m));
}
