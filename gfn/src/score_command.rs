//! `gfn score FILE --out OUT.csv`: every built-in molecule objective for molecules of the user's
//! own — the sEH proxy (from the SMILES, by the same featurisation as the actors'), QED, SA and
//! molecular weight, each raw and normalised — so that they can be compared with what gfn
//! generates. A SMILES that cannot be scored gets its reason in the `error` column.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};

use gfn_common::reward::molecule_features::featurize_smiles;
use gfn_common::reward::objectives::{DrugLikenessScorer, NAMES, SaScorer, normalize_seh};
use gfn_common::reward::seh_proxy::SehProxy;

/// Arguments of `gfn score`.
#[derive(Debug, clap::Args)]
pub struct ScoreArgs {
    /// Molecules: a CSV file with a `smiles` column, or one SMILES per line.
    pub input: PathBuf,
    /// Where to write the scores (CSV: `smiles`, then each objective and `<name>_norm`, `error`).
    #[arg(long)]
    pub out: PathBuf,
    /// The converted sEH proxy weights (scripts/convert_seh_proxy.py makes them).
    #[arg(long, env = "GFN_SEH_PROXY_WEIGHTS", default_value = ".cache/seh_proxy.safetensors")]
    pub proxy_weights: PathBuf,
    /// RDKit's SA fragment table (`Contrib/SA_Score/fpscores.pkl.gz` of an RDKit installation).
    #[arg(
        long,
        env = "GFN_SA_FRAGMENT_SCORES",
        default_value = ".pytools/rdkit/Contrib/SA_Score/fpscores.pkl.gz"
    )]
    pub sa_fragment_scores: PathBuf,
}

/// Molecules scored per call of the sEH proxy.
const BATCH: usize = 256;

/// Runs `gfn score`.
pub fn run(args: ScoreArgs) -> anyhow::Result<ExitCode> {
    let smiles = read_smiles(&args.input)?;
    let proxy = SehProxy::load(&args.proxy_weights)?;
    let drug_likeness = DrugLikenessScorer::new(SaScorer::load(&args.sa_fragment_scores)?);
    let mut writer =
        csv::Writer::from_path(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let mut header = vec!["smiles".to_string()];
    for name in NAMES {
        header.extend([name.to_string(), format!("{name}_norm")]);
    }
    header.push("error".into());
    writer.write_record(&header)?;
    let (mut scored, mut failed) = (0usize, 0usize);
    for chunk in smiles.chunks(BATCH) {
        let graphs: Vec<_> = chunk.iter().map(|s| featurize_smiles(s)).collect();
        let valid: Vec<_> = graphs.iter().filter_map(|g| g.as_ref().ok().cloned()).collect();
        let mut seh = proxy.predict(&valid).into_iter();
        for (smiles, graph) in chunk.iter().zip(&graphs) {
            // every valid graph has its proxy value, in order: take it even if the rest fails
            let seh = graph.as_ref().map(|_| f64::from(seh.next().expect("one value per valid graph")));
            let values = seh.map_err(|e| e.to_string()).and_then(|seh| {
                let d = drug_likeness.score(smiles).map_err(|e| e.to_string())?;
                let [qed, sa, mw] = d.normalized();
                Ok([seh, normalize_seh(seh), d.qed, qed, d.sa, sa, d.mw, mw].map(|v| v.to_string()))
            });
            let mut row = vec![smiles.clone()];
            match values {
                Ok(values) => {
                    scored += 1;
                    row.extend(values);
                    row.push(String::new());
                }
                Err(reason) => {
                    failed += 1;
                    row.extend(std::iter::repeat_n(String::new(), 2 * NAMES.len()));
                    row.push(reason);
                }
            }
            writer.write_record(&row)?;
        }
    }
    writer.flush()?;
    println!("scored {scored} molecules into {} ({failed} could not be scored)", args.out.display());
    Ok(ExitCode::SUCCESS)
}

/// The SMILES of `path`: the `smiles` column of a CSV file with a header, else one per line.
fn read_smiles(path: &Path) -> anyhow::Result<Vec<String>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let first = text.lines().next().unwrap_or_default();
    let smiles: Vec<String> = if first.split(',').any(|column| column.trim() == "smiles") {
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let column = reader.headers()?.iter().position(|h| h.trim() == "smiles").expect("checked");
        let mut smiles = Vec::new();
        for record in reader.records() {
            let record = record.with_context(|| format!("reading {}", path.display()))?;
            smiles.push(record.get(column).unwrap_or_default().trim().to_string());
        }
        smiles
    } else {
        text.lines().map(str::trim).filter(|line| !line.is_empty()).map(String::from).collect()
    };
    if smiles.is_empty() {
        bail!("{} holds no molecules", path.display());
    }
    Ok(smiles)
}
