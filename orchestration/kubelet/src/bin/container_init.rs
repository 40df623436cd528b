//! The container helper as its own binary, for the crate's tests; `keel
//! container-init` runs the same code.

fn main() {
    std::process::exit(keel_kubelet::runtime::linux::helper::main(
        std::env::args_os().skip(1).collect(),
    ));
}
