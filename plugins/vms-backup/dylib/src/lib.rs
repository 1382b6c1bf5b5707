//! Dynamic-library shim of the `vms-backup` format plugin: exports its root module, nothing else.
relic_plugin_sdk::export_plugin!(relic_format_vms_backup::VmsPlugin);
