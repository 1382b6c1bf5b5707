//! Dynamic-library shim of the `aix-backup` format plugin: exports its root module, nothing else.
relic_plugin_sdk::export_plugin!(relic_format_aix_backup::AixPlugin);
