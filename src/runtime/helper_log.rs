//! The helper table the runtime gives sock_ops programs: `sockops_ctx`'s sock_ops helpers
//! (which log themselves in `SockOpsEnv::calls`) plus the vm's map helpers wrapped so that
//! they are logged too, in call order (helpers the sock_ops crate implements itself are left
//! as they are). Helpers that return a pointer (map lookups) are logged
//! with `ret` 1 for a non-NULL pointer and 0 for NULL, so reports never show host addresses.

use std::sync::OnceLock;

use sockops_ctx::{HelperCall, SockOpsEnv, register_sock_ops_helpers};
use sockops_vm::maps::helpers::register_map_helpers;
use sockops_vm::{Helper, HelperEnv, HelperError, HelperFn, HelperTable, RetKind};

/// The vm's map helpers, unwrapped.
fn vm_map_helpers() -> &'static HelperTable {
    static TABLE: OnceLock<HelperTable> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = HelperTable::new();
        register_map_helpers(&mut t);
        t
    })
}

/// Calls the vm's helper `id`, then logs the call in the sock_ops world (if the run has one).
fn call_logged(env: &mut HelperEnv<'_>, id: u32, args: [u64; 5]) -> Result<u64, HelperError> {
    let helper = vm_map_helpers()
        .get(id)
        .ok_or(HelperError::Abort("unregistered map helper"))?;
    let r0 = (helper.func)(env, args)?;
    if let Some(world) = env.payload.downcast_mut::<SockOpsEnv>() {
        let ret = match helper.signature.ret {
            RetKind::Integer | RetKind::Void => r0 as i64,
            _ => i64::from(r0 != 0),
        };
        world.calls.push(HelperCall {
            id,
            name: helper.signature.name,
            args,
            ret,
            sockopt: None,
        });
    }
    Ok(r0)
}

macro_rules! logged {
    ($($fname:ident = $id:path;)*) => {
        $(
            fn $fname(env: &mut HelperEnv<'_>, args: [u64; 5]) -> Result<u64, HelperError> {
                call_logged(env, $id, args)
            }
        )*
        /// The logging wrapper of vm map helper `id`, if there is one.
        fn wrapper_of(id: u32) -> Option<HelperFn> {
            match id {
                $($id => Some($fname as HelperFn),)*
                _ => None,
            }
        }
    };
}

use sockops_vm::maps::helpers::{
    BPF_FUNC_MAP_DELETE_ELEM, BPF_FUNC_MAP_LOOKUP_ELEM, BPF_FUNC_MAP_LOOKUP_PERCPU_ELEM,
    BPF_FUNC_MAP_PEEK_ELEM, BPF_FUNC_MAP_POP_ELEM, BPF_FUNC_MAP_PUSH_ELEM,
    BPF_FUNC_MAP_UPDATE_ELEM, BPF_FUNC_TAIL_CALL,
};

logged! {
    logged_map_lookup_elem = BPF_FUNC_MAP_LOOKUP_ELEM;
    logged_map_update_elem = BPF_FUNC_MAP_UPDATE_ELEM;
    logged_map_delete_elem = BPF_FUNC_MAP_DELETE_ELEM;
    logged_tail_call = BPF_FUNC_TAIL_CALL;
    logged_map_push_elem = BPF_FUNC_MAP_PUSH_ELEM;
    logged_map_pop_elem = BPF_FUNC_MAP_POP_ELEM;
    logged_map_peek_elem = BPF_FUNC_MAP_PEEK_ELEM;
    logged_map_lookup_percpu_elem = BPF_FUNC_MAP_LOOKUP_PERCPU_ELEM;
}

/// Every helper this runtime provides to sock_ops programs, each one logged.
pub fn runtime_helper_table() -> HelperTable {
    let mut table = HelperTable::new();
    register_sock_ops_helpers(&mut table);
    for h in vm_map_helpers().iter() {
        // Wrap only the vm's own implementation: a helper the sock_ops crate registered in
        // its place logs itself. (A false "replaced" only loses the log entry.)
        let still_vm = table
            .get(h.id)
            .is_some_and(|current| current.func as usize == h.func as usize);
        if let (true, Some(func)) = (still_vm, wrapper_of(h.id)) {
            table.register(Helper { func, ..*h });
        }
    }
    table
}
