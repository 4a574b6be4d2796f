//! What the benchmarks share: the data set, the peers joblog is measured
//! against (`naive` and `sqlite`), and the plain model both the tests and
//! the `naive` peer answer with.

#[path = "../../examples/support/dataset.rs"]
pub mod dataset;
#[path = "../../tests/support/naive.rs"]
pub mod naive;
pub mod peers;
