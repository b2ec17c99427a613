//! The artifact disks of the staging tests: answered at once, or stalled after a
//! number of chunk writes.

use psionic_core::staging::StagingStore as _;

use super::Harness;

impl Harness {
    /// Carries out staging work on node `index`'s artifact disk and hands the answer
    /// back at once, unless its writes are stalled.
    pub(super) fn carry_out_staging(&mut self, index: usize, io: psionic_core::staging::StagingIo) {
        if matches!(io, psionic_core::staging::StagingIo::Write { .. }) {
            match &mut self.staging_writes_left[index] {
                Some(0) => return self.staging_stalled.push((index, io)),
                Some(left) => *left -= 1,
                None => {}
            }
        }
        if let Some(done) = self.artifact_disks[index].carry_out(io) {
            self.nodes[index].staging_done(self.now, done);
        }
    }

    /// Lets node `index`'s artifact disk carry out its stalled work, and all to come.
    pub fn release_staging(&mut self, index: usize) {
        self.staging_writes_left[index] = None;
        let stalled = std::mem::take(&mut self.staging_stalled);
        let (mine, others): (Vec<_>, Vec<_>) = stalled.into_iter().partition(|(node, _)| *node == index);
        self.staging_stalled = others;
        for (_, io) in mine {
            self.carry_out_staging(index, io);
        }
    }
}
