//! Directory convergence: every replica of each domain holds the same content, and every
//! DC holds each attribute's winning write.

/// The simulated directory's DCs as the checks see them.
#[derive(Default)]
pub(super) struct DirectoryMirror {
    /// (name, domain) of each DC.
    dcs: Vec<(String, usize)>,
    /// Each DC's replica digest.
    digests: Vec<u64>,
    /// Each DC's backlog: attributes whose winning write it does not hold.
    backlogs: Vec<u64>,
}

impl DirectoryMirror {
    pub(super) fn set_directory(&mut self, dcs: Vec<(String, usize)>) {
        self.digests = vec![0; dcs.len()];
        self.backlogs = vec![0; dcs.len()];
        self.dcs = dcs;
    }

    pub(super) fn digest(&mut self, dc: usize, digest: u64) {
        self.digests[dc] = digest;
    }

    pub(super) fn set_backlogs(&mut self, backlogs: Vec<u64>) {
        debug_assert_eq!(backlogs.len(), self.dcs.len());
        self.backlogs = backlogs;
    }

    /// Whether the directory has converged (agreeing on a loser is no convergence); or
    /// what is wrong.
    pub(super) fn agreement(&self) -> Result<(), String> {
        if let Some((i, n)) = self.backlogs.iter().enumerate().find(|(_, n)| **n > 0) {
            return Err(format!("{} lacks the winning write of {n} attribute(s)", self.dcs[i].0));
        }
        for (i, (name, domain)) in self.dcs.iter().enumerate() {
            let first = self.dcs.iter().position(|(_, d)| d == domain).expect("itself at least");
            if self.digests[i] != self.digests[first] {
                return Err(format!("{} and {name} hold different replicas of their domain", self.dcs[first].0));
            }
        }
        Ok(())
    }
}
