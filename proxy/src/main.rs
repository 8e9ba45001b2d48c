fn main() {
    println!("sluice-proxy {}", env!("CARGO_PKG_VERSION"));
}
