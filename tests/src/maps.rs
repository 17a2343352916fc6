//! Maps the integration tests build by hand (outside any object).

use std::sync::Arc;

use sockops_vm::{Map, MapDef, MapType};

/// An empty prog array named `jumps` with `max_entries` slots.
pub fn prog_array(max_entries: u32) -> Arc<Map> {
    let def = MapDef {
        map_type: MapType::ProgArray,
        key_size: 4,
        value_size: 4,
        max_entries,
        map_flags: 0,
    };
    Arc::new(Map::try_new("jumps", def).expect("valid prog array definition"))
}
