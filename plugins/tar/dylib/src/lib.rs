//! Dynamic-library shim of the `tar` format plugin: exports its root module, nothing else.
relic_plugin_sdk::export_plugin!(relic_format_tar::TarPlugin);
