//! Leapfrog site-updates per second at 128³ and 256³ (see `nncosmo-gpu bench lattice`).

fn main() {
    if let Err(e) = nncosmo_gpu::lattice::bench::run_cli(&Default::default()) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
