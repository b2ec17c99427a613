//! Randomness for keys and RNG seeds: the OS in production, the seeded simulator under
//! madsim (so a simulation seed fixes every draw).

/// Fills `bytes` with random bytes.
pub fn fill(bytes: &mut [u8]) {
    #[cfg(madsim)]
    {
        use madsim::rand::RngCore as _;
        madsim::rand::thread_rng().fill_bytes(bytes);
    }
    #[cfg(not(madsim))]
    {
        getrandom::fill(bytes).expect("the OS random source is available");
    }
}

/// A random `u64`.
pub fn random_u64() -> u64 {
    let mut bytes = [0u8; 8];
    fill(&mut bytes);
    u64::from_le_bytes(bytes)
}
