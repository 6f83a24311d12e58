//! The request log and per-endpoint counters tests read to check what a client did.

use std::collections::BTreeMap;

/// One request the simulator answered (or dropped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    /// `GET`, `DELETE`, ...
    pub method: String,
    /// Path without the query (`/network/v2.0/ports`).
    pub path: String,
    /// Raw query string, if any.
    pub query: Option<String>,
    /// Catalog type of the service (`network`, `compute`, ...).
    pub service: String,
    /// Status answered; `None` when the connection was dropped.
    pub status: Option<u16>,
    /// The client's `User-Agent` (stacksweep names its replica there), if any.
    pub client: Option<String>,
    /// The project the request's token is scoped to, if it carried a valid one.
    pub project: Option<String>,
}

/// Most records kept; older ones are dropped (counters keep counting).
const MAX_RECORDS: usize = 200_000;

/// Every request answered, and counts per endpoint.
#[derive(Debug, Default)]
pub struct RequestLog {
    records: Vec<RequestRecord>,
    counts: BTreeMap<String, u64>,
}

impl RequestLog {
    /// Adds one request.
    pub fn record(&mut self, record: RequestRecord) {
        *self
            .counts
            .entry(format!("{} {}", record.method, endpoint_of(&record.path)))
            .or_default() += 1;
        if self.records.len() >= MAX_RECORDS {
            self.records.drain(..MAX_RECORDS / 2);
        }
        self.records.push(record);
    }

    /// Forgets the records kept so far; the counters keep counting.
    pub fn clear_records(&mut self) {
        self.records = Vec::new();
    }

    /// A copy of the log.
    pub fn records(&self) -> Vec<RequestRecord> {
        self.records.clone()
    }

    /// Requests with this method whose path starts with `prefix`.
    pub fn count(&self, method: &str, prefix: &str) -> usize {
        self.records
            .iter()
            .filter(|r| r.method.eq_ignore_ascii_case(method) && r.path.starts_with(prefix))
            .count()
    }

    /// Counts per endpoint: `"GET /network/v2.0/ports/{id}"` → n.
    pub fn endpoint_counts(&self) -> BTreeMap<String, u64> {
        self.counts.clone()
    }
}

/// A path with ids replaced by `{id}`, so counters group by endpoint.
pub fn endpoint_of(path: &str) -> String {
    path.split('/')
        .map(|seg| if looks_like_id(seg) { "{id}" } else { seg })
        .collect::<Vec<_>>()
        .join("/")
}

fn looks_like_id(seg: &str) -> bool {
    let hex = seg.chars().filter(char::is_ascii_hexdigit).count();
    (hex == 32 && (seg.len() == 36 || seg.len() == 32)) || seg.starts_with("AUTH_")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ids in paths are grouped into one endpoint.
    #[test]
    fn ids_are_grouped() {
        assert_eq!(
            endpoint_of("/network/v2.0/ports/0b2c0c58-8c0a-4b8e-9d7e-2a1f5c3e4d5f"),
            "/network/v2.0/ports/{id}"
        );
    }
}
