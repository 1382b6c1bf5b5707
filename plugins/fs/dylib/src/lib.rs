//! Dynamic-library shim of the `fs` format plugin: exports its root module, nothing else.
relic_plugin_sdk::export_plugin!(relic_format_fs::FsPlugin);
