//! Dynamic-library shim of the `pipe` media plugin: exports its root module, nothing else.
relic_plugin_sdk::export_plugin!(relic_medium_pipe::PipePlugin);
