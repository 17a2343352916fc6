//! `sockops-conformance-plugin`: the bpf_conformance plugin protocol over the sockops engines.
fn main() {
    eprintln!("sockops-conformance-plugin: not built yet");
    std::process::exit(1);
}
