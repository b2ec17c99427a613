//! Every size limit, as one set of numbers that fit inside each other: a frame holds
//! an envelope and one payload; an entry, a snapshot chunk, a prompt or a probe's
//! filler is one payload; an HTTP body holds one command or request written as JSON.
//! A command whose entry would not fit a frame is refused at proposal, so nothing
//! the leader appends is too large to replicate.

/// Largest frame accepted or produced, in bytes.
pub const FRAME_BYTES_MAX: usize = 64 * 1024;

/// Room kept in every frame for the envelope, the message's fixed fields and the tag.
pub const FRAME_OVERHEAD_BYTES: usize = 2 * 1024;

/// Largest variable part of one frame: an append's entries, a snapshot chunk, a
/// probe's filler.
pub const FRAME_PAYLOAD_BYTES_MAX: usize = FRAME_BYTES_MAX - FRAME_OVERHEAD_BYTES;

/// Largest encoded log entry. An append carries at least one entry, so every entry
/// must fit one frame on its own.
pub const ENTRY_BYTES_MAX: usize = FRAME_PAYLOAD_BYTES_MAX;

/// Largest snapshot chunk, in bytes.
pub const SNAPSHOT_CHUNK_BYTES_MAX: usize = 48 * 1024;

/// Most payload bytes in one bandwidth-probe frame.
pub const LINK_PROBE_PAYLOAD_BYTES_MAX: usize = 56 * 1024;

/// Longest prompt accepted, in bytes: an assignment carries it in one frame, beside
/// its plan and authority.
pub const PROMPT_BYTES_MAX: usize = 32 * 1024;

/// Most entries one append may carry.
pub const APPEND_ENTRIES_MAX: usize = 1024;

/// Largest HTTP request body: a command or request written as JSON, where each byte
/// of a document may take up to four characters (`255,`), with room for the rest.
pub const HTTP_BODY_BYTES_MAX: usize = 4 * ENTRY_BYTES_MAX + 16 * 1024;

/// Highest term a message may carry: far beyond any real cluster's, low enough
/// that `term + 1` never overflows.
pub const TERM_MAX: u64 = u64::MAX / 4;

/// How long a node waits for its leader to answer a proposal or request it forwarded
/// (taken or placed) before it reports the outcome unknown.
pub const FORWARD_ANSWER_WITHIN_MS: u64 = 5_000;

/// Highest log index a message may carry (as [`TERM_MAX`] for terms).
pub const INDEX_MAX: u64 = u64::MAX / 4;

/// Largest UDP payload over IPv4: a frame sent as a datagram must fit.
pub const UDP_PAYLOAD_BYTES_MAX: usize = 65_507;

const _: () = {
    assert!(FRAME_PAYLOAD_BYTES_MAX + 1024 <= UDP_PAYLOAD_BYTES_MAX);
    assert!(SNAPSHOT_CHUNK_BYTES_MAX <= FRAME_PAYLOAD_BYTES_MAX);
    assert!(LINK_PROBE_PAYLOAD_BYTES_MAX <= FRAME_PAYLOAD_BYTES_MAX);
    assert!(PROMPT_BYTES_MAX + 16 * 1024 <= FRAME_PAYLOAD_BYTES_MAX);
    assert!(4 * PROMPT_BYTES_MAX < HTTP_BODY_BYTES_MAX);
};

/// Most key rotations of one node the state keeps (and a hello carries), newest last:
/// a node behind by no more rotations of a peer than these learns its key from hellos.
pub const KEY_HISTORY_MAX: usize = 8;

/// Longest operator credential id, in bytes (recorded in every entry it proposes).
pub const CREDENTIAL_ID_LEN_MAX: usize = 64;
