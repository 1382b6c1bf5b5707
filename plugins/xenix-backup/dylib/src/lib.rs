//! Dynamic-library shim of the `xenix-backup` format plugin: exports its root module, nothing else.
relic_plugin_sdk::export_plugin!(relic_format_xenix_backup::XenixPlugin);
