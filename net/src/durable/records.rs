//! Checksummed records: `len (u32 LE) | checksum (8) | payload (len)`, where checksum
//! is the first 8 bytes of SHA-256 of the payload.

use sha2::{Digest as _, Sha256};

/// Bytes before a record's payload.
pub const HEADER_LEN: usize = 4 + 8;
/// Largest payload accepted when reading.
pub const PAYLOAD_LEN_MAX: usize = 64 * 1024 * 1024;

/// Appends one record holding `payload` to `out`.
pub fn encode(payload: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&checksum(payload));
    out.extend_from_slice(payload);
}

fn checksum(payload: &[u8]) -> [u8; 8] {
    let digest = Sha256::digest(payload);
    let mut out = [0u8; 8];
    out.copy_from_slice(&digest[..8]);
    out
}

/// How reading a file of records ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ending {
    /// Every byte belonged to a whole, valid record.
    Clean,
    /// The last record is incomplete (and no whole record follows where it starts) or
    /// fails its checksum with nothing after it: a write torn by a crash. The valid
    /// part ends at `offset`.
    TornTail {
        /// Where the valid records end.
        offset: u64,
    },
    /// A record in the middle fails its checksum or has an impossible length, or a
    /// length that reaches past the end of the file with whole records after it.
    Corrupt {
        /// Where the bad record starts.
        offset: u64,
    },
}

/// How far past a damaged length to look for a whole record: a log record holds one
/// entry, and entries are smaller than a frame.
const SCAN_BYTES_MAX: usize = 2 * psionic_core::limits::FRAME_BYTES_MAX;

/// Whether a whole record with a valid checksum starts within the first
/// [`SCAN_BYTES_MAX`] of `bytes` (a zero length is no record: zeros fill torn tails).
fn whole_record_within(bytes: &[u8]) -> bool {
    let starts = bytes.len().saturating_sub(HEADER_LEN).min(SCAN_BYTES_MAX);
    (0..starts).any(|start| {
        let rest = &bytes[start..];
        let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        len > 0
            && len <= rest.len() - HEADER_LEN
            && checksum(&rest[HEADER_LEN..HEADER_LEN + len]) == rest[4..HEADER_LEN]
    })
}

/// Splits `bytes` into payloads with their offsets, and says how the file ended.
pub fn decode(bytes: &[u8]) -> (Vec<(u64, &[u8])>, Ending) {
    let mut records = Vec::new();
    let mut offset = 0usize;
    while offset < bytes.len() {
        let rest = &bytes[offset..];
        if rest.len() < HEADER_LEN {
            return (records, Ending::TornTail { offset: offset as u64 });
        }
        let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        if len > PAYLOAD_LEN_MAX {
            return (records, Ending::Corrupt { offset: offset as u64 });
        }
        let end = HEADER_LEN + len;
        let torn_or_corrupt = |corrupt: bool| match corrupt {
            true => Ending::Corrupt { offset: offset as u64 },
            false => Ending::TornTail { offset: offset as u64 },
        };
        if rest.len() < end {
            // A torn write cuts the last record short; a length damaged in the middle
            // reaches past the end too, but whole records follow it.
            return (records, torn_or_corrupt(whole_record_within(&rest[1..])));
        }
        let payload = &rest[HEADER_LEN..end];
        if checksum(payload) != rest[4..HEADER_LEN] {
            // The last record, or a tail the file system filled with zeros (a crash
            // after the file grew and before the bytes landed), was torn.
            let torn = rest.len() == end || rest.iter().all(|byte| *byte == 0);
            return (records, torn_or_corrupt(!torn));
        }
        records.push((offset as u64, payload));
        offset += end;
    }
    (records, Ending::Clean)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(payloads: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for payload in payloads {
            encode(payload, &mut out);
        }
        out
    }

    #[test]
    fn whole_files_decode_cleanly() {
        let bytes = file(&[b"one", b"two"]);
        let (records, ending) = decode(&bytes);
        assert_eq!(ending, Ending::Clean);
        assert_eq!(
            records.iter().map(|(_, payload)| *payload).collect::<Vec<_>>(),
            [b"one".as_slice(), b"two"]
        );
    }

    #[test]
    fn a_cut_last_record_is_a_torn_tail() {
        let bytes = file(&[b"one", b"two"]);
        let (records, ending) = decode(&bytes[..bytes.len() - 1]);
        assert_eq!(records.len(), 1);
        assert_eq!(
            ending,
            Ending::TornTail {
                offset: (HEADER_LEN + 3) as u64
            }
        );
    }

    #[test]
    fn a_bad_checksum_in_the_middle_is_corruption_and_at_the_end_a_torn_tail() {
        let mut bytes = file(&[b"one", b"two", b"three"]);
        let second = HEADER_LEN + 3;
        bytes[second + HEADER_LEN] ^= 1;
        assert_eq!(decode(&bytes).1, Ending::Corrupt { offset: second as u64 });
        let mut bytes = file(&[b"one", b"two"]);
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert_eq!(decode(&bytes).1, Ending::TornTail { offset: second as u64 });
    }

    #[test]
    fn a_length_past_the_end_is_a_torn_tail_only_when_no_whole_record_follows() {
        let mut bytes = file(&[b"one", b"two", b"three"]);
        let second = HEADER_LEN + 3;
        bytes[second + 2] = 0x01;
        assert_eq!(decode(&bytes).1, Ending::Corrupt { offset: second as u64 });
        let bytes = file(&[b"one", b"two", b"three"]);
        let cut = &bytes[..bytes.len() - 2];
        let last = 2 * (HEADER_LEN + 3);
        assert_eq!(decode(cut).1, Ending::TornTail { offset: last as u64 });
    }

    #[test]
    fn a_tail_filled_with_zeros_is_torn() {
        let mut bytes = file(&[b"one", b"two"]);
        let end = bytes.len() as u64;
        bytes.extend_from_slice(&[0; 64]);
        assert_eq!(decode(&bytes).1, Ending::TornTail { offset: end });
    }
}
