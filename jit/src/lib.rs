//! `sockops-jit`: compiles verified eBPF programs to x86-64 and aarch64 machine code.
