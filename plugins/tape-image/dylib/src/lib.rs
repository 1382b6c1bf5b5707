//! Dynamic-library shim of the `tape-image` media plugin: exports its root module, nothing else.
relic_plugin_sdk::export_plugin!(relic_medium_tape_image::TapeImagePlugin);
