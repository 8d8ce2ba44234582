//! The reference CRM. It is built in its own issue; until then `cargo run -p crm`
//! says so instead of pretending to serve anything.

fn main() {
    println!(
        "The reference CRM (examples/crm) is not built yet.\n\
         The scoped connection it will use is in tenancy-seaorm; run the tests with\n\
         \n    cargo test --workspace\n"
    );
}
