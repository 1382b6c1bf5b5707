//! A plugin that looks like one built for an older relic ABI (0.9, with a different root
//! module): the host must refuse it in one line and carry on.
#![allow(non_local_definitions, non_camel_case_types)]

use abi_stable::{
    declare_root_module_statics, export_root_module, library::RootModule,
    prefix_type::PrefixTypeTrait, sabi_extern_fn, sabi_types::VersionStrings, std_types::RString,
    StableAbi,
};

#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = RelicPlugin_Ref)))]
#[sabi(missing_field(panic))]
pub struct RelicPlugin {
    pub name: extern "C" fn() -> RString,
    #[sabi(last_prefix_field)]
    pub probe: extern "C" fn(u32) -> u32,
}

impl RootModule for RelicPlugin_Ref {
    declare_root_module_statics! {RelicPlugin_Ref}
    const BASE_NAME: &'static str = "relic_plugin";
    const NAME: &'static str = "relic plugin";
    const VERSION_STRINGS: VersionStrings = VersionStrings::new("0.9.0");
}

#[sabi_extern_fn]
fn name() -> RString {
    "old-plugin".into()
}

#[sabi_extern_fn]
fn probe(_x: u32) -> u32 {
    0
}

#[export_root_module]
fn get_library() -> RelicPlugin_Ref {
    RelicPlugin { name, probe }.leak_into_prefix()
}
