//! Prints [`sf_backup_workspace_tests::generated_types_dump`] for `cargo xtask conformance`, which cannot link the
//! generated types itself (xtask must build even when the committed generated code does not).
#![forbid(unsafe_code)]

fn main() {
    let dump = sf_backup_workspace_tests::generated_types_dump();
    println!("{dump}");
}
