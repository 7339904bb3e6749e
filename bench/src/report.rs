//! Printing figures side by side with a peer.

/// One comparison row: our figure, the peer's, and the ratio.
pub struct Row<'a> {
    pub what: &'a str,
    pub ours: f64,
    pub peer_name: &'a str,
    pub peer: Option<f64>,
    pub unit: &'a str,
    /// true when a larger figure is better (throughput), false for times.
    pub higher_is_better: bool,
}

impl Row<'_> {
    pub fn print(&self) {
        match self.peer {
            Some(peer) if peer > 0.0 && self.ours > 0.0 => {
                let ratio = if self.higher_is_better { self.ours / peer } else { peer / self.ours };
                println!(
                    "{:<40} rstore {:>10.3} {:<6} | {:<22} {:>10.3} {:<6} | rstore is {:.2}x {}",
                    self.what,
                    self.ours,
                    self.unit,
                    self.peer_name,
                    peer,
                    self.unit,
                    ratio,
                    if ratio >= 1.0 { "better" } else { "worse" }
                );
            }
            _ => println!(
                "{:<40} rstore {:>10.3} {:<6} | {:<22} (not available)",
                self.what, self.ours, self.unit, self.peer_name
            ),
        }
    }
}
