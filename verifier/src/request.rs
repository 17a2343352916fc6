//! The `sockops verify --stream` request format: one JSON object per line,
//! `{"id", "prog_type": "sock_ops", "insns_hex", "maps": [{type, key_size, value_size,
//! max_entries, map_flags}]}`, answered with `{"id", "verdict": "accept"|"reject", "msg"}`.

use serde::{Deserialize, Serialize};
use sockops_vm::{HelperTable, Insn, MapDef, MapType};

use crate::{VerifyOptions, verify_insns};

/// A map in a stream request.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
pub struct StreamMap {
    /// Map type name as `sockops inspect` prints it (`array`, `hash`, ...).
    #[serde(rename = "type")]
    pub map_type: String,
    /// Key size.
    pub key_size: u32,
    /// Value size.
    pub value_size: u32,
    /// Maximum entries.
    pub max_entries: u32,
    /// Map flags.
    #[serde(default)]
    pub map_flags: u32,
}

/// One request line.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
pub struct StreamRequest {
    /// Caller's id, echoed back.
    #[serde(default)]
    pub id: serde_json::Value,
    /// Program type; only `sock_ops` (or absent) is accepted.
    #[serde(default)]
    pub prog_type: Option<String>,
    /// The program's slots as hex (16 hex digits per slot, little-endian).
    pub insns_hex: String,
    /// Maps indexed by LD_IMM64 src 1/2.
    #[serde(default)]
    pub maps: Vec<StreamMap>,
}

/// One response line.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
pub struct StreamResponse {
    /// The request's id.
    pub id: serde_json::Value,
    /// `accept` or `reject`.
    pub verdict: String,
    /// The kernel-style message of a rejection (empty when accepted).
    pub msg: String,
}

fn parse_hex(s: &str) -> Result<Vec<u8>, String> {
    let s = s.trim();
    if !s.len().is_multiple_of(2) {
        return Err(format!(
            "insns_hex has an odd number of digits ({})",
            s.len()
        ));
    }
    (0..s.len())
        .step_by(2)
        .map(|i| {
            s.get(i..i + 2)
                .and_then(|d| u8::from_str_radix(d, 16).ok())
                .ok_or_else(|| format!("insns_hex: bad hex digit at offset {i}"))
        })
        .collect()
}

/// Converts the request's maps to definitions.
pub fn map_defs(maps: &[StreamMap]) -> Result<Vec<MapDef>, String> {
    maps.iter()
        .enumerate()
        .map(|(i, m)| {
            let t = MapType::from_name(&m.map_type)
                .ok_or_else(|| format!("map {i}: unknown map type {:?}", m.map_type))?;
            Ok(MapDef {
                map_type: t,
                key_size: m.key_size,
                value_size: m.value_size,
                max_entries: m.max_entries,
                map_flags: m.map_flags,
            })
        })
        .collect()
}

/// Verifies one parsed request. Malformed requests (bad hex, unknown map type, another
/// program type) are answered with a rejection naming the problem.
pub fn verify_request(
    req: &StreamRequest,
    helpers: &HelperTable,
    opts: &VerifyOptions,
) -> StreamResponse {
    let reject = |msg: String| StreamResponse {
        id: req.id.clone(),
        verdict: "reject".into(),
        msg,
    };
    if let Some(t) = &req.prog_type
        && t != "sock_ops"
    {
        return reject(format!("unsupported prog_type {t:?} (only sock_ops)"));
    }
    let bytes = match parse_hex(&req.insns_hex) {
        Ok(b) => b,
        Err(e) => return reject(e),
    };
    let insns = match Insn::slice_from_bytes(&bytes) {
        Ok(i) => i,
        Err(e) => return reject(e.to_string()),
    };
    let maps = match map_defs(&req.maps) {
        Ok(m) => m,
        Err(e) => return reject(e),
    };
    match verify_insns(&insns, &maps, helpers, opts) {
        Ok(_) => StreamResponse {
            id: req.id.clone(),
            verdict: "accept".into(),
            msg: String::new(),
        },
        Err(e) => reject(e.message),
    }
}
