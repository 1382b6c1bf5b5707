//! Support library of the integration tests (kept empty: helpers live in `util.rs`, which
//! the test binary includes). The package exists so the tests can dev-depend on every plugin
//! cdylib without the driver crate depending on any plugin.
