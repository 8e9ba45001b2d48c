//! `sluice-migrate`: reads the Ingresses of an ingress-nginx class (from the cluster, or
//! from files) and reports, for each, what Sluice does with every annotation and whether
//! the Ingress is safe to switch to Sluice's class. `--output yaml` writes them rewritten
//! for Sluice's class. Exit status: 0 all safe, 2 some not safe (or to switch with care),
//! 1 an error. docs/migrating-from-ingress-nginx.md#migration-report.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use sluice_crds::annotations::migration;
use sluice_operator::migrate::render::{self, Scope};
use sluice_operator::migrate::source::{self, Selection};
use sluice_operator::migrate::{Output, exit_code};

/// Reports whether the Ingresses of an ingress-nginx class can switch to Sluice: every
/// annotation as honoured (perhaps with a difference), unsupported, refused or invalid, and
/// a verdict per Ingress. Exit status 0: all safe to switch; 2: some are not, or need care;
/// 1: an error.
#[derive(Debug, Parser)]
#[command(name = "sluice-migrate", version)]
struct Args {
    /// The class whose Ingresses are read: in spec.ingressClassName or the legacy
    /// kubernetes.io/ingress.class annotation.
    #[arg(long, value_name = "NAME", default_value = "nginx")]
    ingress_class: String,

    /// Also read the Ingresses that name no class (those the default class serves).
    #[arg(long)]
    with_no_class: bool,

    /// The Sluice class the Ingresses are rewritten for.
    #[arg(long, value_name = "NAME", default_value = "sluice")]
    to_class: String,

    /// Added to each rewritten Ingress's name, for copies that run beside the originals
    /// (`-sluice`). Without it the rewrite replaces each Ingress in place.
    #[arg(long, value_name = "SUFFIX", default_value = "")]
    name_suffix: String,

    /// Kubeconfig to use instead of $KUBECONFIG, ~/.kube/config or the in-cluster config.
    #[arg(long, value_name = "PATH", conflicts_with = "from_file")]
    kubeconfig: Option<PathBuf>,

    /// Only this namespace (default: all).
    #[arg(long, short = 'n', value_name = "NS")]
    namespace: Option<String>,

    /// Read Ingresses from this file or directory (YAML or JSON, several documents, List
    /// kinds) instead of the cluster. Repeatable.
    #[arg(long, short = 'f', value_name = "PATH")]
    from_file: Vec<PathBuf>,

    /// text: the report; yaml: the Ingresses rewritten for --to-class, each after a
    /// comment with its verdict; json: the report as data.
    #[arg(long, short = 'o', value_enum, default_value_t = Output::Text)]
    output: Output,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let _ = rustls::crypto::ring::default_provider().install_default();
    match run(&args).await {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprintln!("sluice-migrate: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: &Args) -> anyhow::Result<u8> {
    let ingresses = match args.from_file.is_empty() {
        true => {
            let client = sluice_common::kube_client(args.kubeconfig.as_deref())
                .await
                .context("connecting to the cluster")?;
            source::from_cluster(client, args.namespace.as_deref()).await?
        }
        false => {
            let found = source::from_files(&args.from_file)?;
            for skipped in &found.skipped {
                eprintln!("sluice-migrate: skipped {skipped}");
            }
            found.ingresses
        }
    };
    let selection = Selection {
        class: &args.ingress_class,
        with_no_class: args.with_no_class,
        namespace: args.namespace.as_deref(),
    };
    let ingresses = selection.select(ingresses);
    let reports = migration::report_all(&ingresses);
    let scope = Scope {
        class: &args.ingress_class,
        to_class: &args.to_class,
    };
    let out = match args.output {
        Output::Text => render::text(&reports, scope),
        Output::Json => render::json(&reports, scope)?,
        Output::Yaml => {
            let rewritten: Vec<_> = ingresses
                .iter()
                .map(|i| migration::rewrite(i, &args.to_class, &args.name_suffix))
                .collect();
            if reports.is_empty() {
                eprintln!(
                    "sluice-migrate: no Ingress of class {} found",
                    args.ingress_class
                );
            }
            render::yaml(&reports, &rewritten)?
        }
    };
    print!("{out}");
    Ok(exit_code(&reports))
}
