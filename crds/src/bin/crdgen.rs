//! Prints the IngressClassParams CRD as YAML, for `charts/sluice/crds/`:
//!
//! ```sh
//! cargo run -q -p sluice-crds --bin crdgen > charts/sluice/crds/ingressclassparams.yaml
//! ```

use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    let yaml = match sluice_crds::params::crd_yaml() {
        Ok(yaml) => yaml,
        Err(err) => {
            eprintln!("crdgen: cannot serialize the CRD: {err}");
            return ExitCode::FAILURE;
        }
    };
    let mut stdout = std::io::stdout().lock();
    if let Err(err) = stdout
        .write_all(yaml.as_bytes())
        .and_then(|()| stdout.flush())
    {
        eprintln!("crdgen: cannot write the CRD: {err}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
