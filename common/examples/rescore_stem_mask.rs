//! Rescores the molecules of a fragment run's SQLite results with and without the proxy's
//! stem mask: `cargo run --release --example rescore_stem_mask -- <molecules.sqlite> [limit]`.
//! Prints, for the best distinct molecules by stored proxy and for a uniform sample of all,
//! the mean and spread of (masked − unmasked) and the top-k of each scoring.

use std::path::PathBuf;

use gfn_common::env::junction_tree::BlockTree;
use gfn_common::reward::SehReward;
use gfn_common::task::fragments::FragmentConfig;

fn main() {
    tch::set_num_threads(1);
    let args: Vec<String> = std::env::args().collect();
    let db = PathBuf::from(args.get(1).expect("usage: rescore_stem_mask <molecules.sqlite> [limit]"));
    let limit: usize = args.get(2).map_or(20_000, |s| s.parse().expect("limit"));
    let mut config = FragmentConfig::default();
    if let Ok(path) = std::env::var("GFN_VOCABULARY") {
        config.vocabulary = path.into();
    }
    let env = config.environment().expect("vocabulary");
    let plain =
        SehReward::load(env.clone(), &config.proxy_weights, 1, config.reward_settings()).expect("proxy");
    config.proxy_stem_mask = true;
    let masked = SehReward::load(env, &config.proxy_weights, 1, config.reward_settings()).expect("proxy");
    let connection = rusqlite::Connection::open(&db).expect("database");
    for (label, query) in [
        (
            "best",
            format!(
                "SELECT canonical_key, MAX(proxy) FROM molecules GROUP BY smiles ORDER BY MAX(proxy) DESC LIMIT {limit}"
            ),
        ),
        ("all", format!("SELECT canonical_key, proxy FROM molecules WHERE id % 10 = 0 LIMIT {limit}")),
    ] {
        let mut statement = connection.prepare(&query).expect("query");
        let trees: Vec<(BlockTree, f64)> = statement
            .query_map([], |row| Ok((row.get::<_, String>(0)?, row.get::<_, f64>(1)?)))
            .expect("rows")
            .map(|row| {
                let (key, proxy) = row.expect("row");
                (serde_json::from_str(&key).expect("junction tree"), proxy)
            })
            .collect();
        let mut pairs = Vec::with_capacity(trees.len());
        for chunk in trees.chunks(256) {
            let refs: Vec<&BlockTree> = chunk.iter().map(|(t, _)| t).collect();
            let a = plain.proxy_values(&refs);
            let b = masked.proxy_values(&refs);
            for ((x, y), (_, stored)) in a.into_iter().zip(b).zip(chunk) {
                if let (Ok(x), Ok(y)) = (x, y) {
                    assert!((x - stored).abs() < 1e-3, "stored {stored} vs recomputed {x}");
                    pairs.push((x, y));
                }
            }
        }
        let n = pairs.len() as f64;
        let diffs: Vec<f64> = pairs.iter().map(|(x, y)| y - x).collect();
        let mean = diffs.iter().sum::<f64>() / n;
        let sd = (diffs.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / n).sqrt();
        let top = |values: &mut Vec<f64>, k: usize| {
            values.sort_by(|a, b| b.total_cmp(a));
            values.iter().take(k).sum::<f64>() / k.min(values.len()) as f64
        };
        let (mut xs, mut ys): (Vec<f64>, Vec<f64>) = pairs.iter().copied().unzip();
        println!(
            "{label}: {} molecules, masked − plain mean {mean:.3} sd {sd:.3}; top-10/100/1000 plain {:.2}/{:.2}/{:.2} masked {:.2}/{:.2}/{:.2}",
            pairs.len(),
            top(&mut xs, 10),
            top(&mut xs, 100),
            top(&mut xs, 1000),
            top(&mut ys, 10),
            top(&mut ys, 100),
            top(&mut ys, 1000),
        );
    }
}
