fn main() {
    println!("sluice-operator {}", env!("CARGO_PKG_VERSION"));
}
