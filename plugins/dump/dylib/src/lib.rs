//! Dynamic-library shim of the `dump` format plugin (bsd-dump, irix-dump): exports its root module, nothing else.
relic_plugin_sdk::export_plugin!(relic_format_dump::DumpPlugin);
