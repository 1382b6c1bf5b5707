//! Dynamic-library shim of the `o2image` format plugin: exports its root module, nothing else.
relic_plugin_sdk::export_plugin!(relic_format_o2image::O2imagePlugin);
