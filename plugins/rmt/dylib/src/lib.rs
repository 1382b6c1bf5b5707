//! Dynamic-library shim of the `rmt` media plugin: exports its root module, nothing else.
relic_plugin_sdk::export_plugin!(relic_medium_rmt::RmtPlugin);
