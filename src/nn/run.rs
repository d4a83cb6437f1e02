//! `nncosmo-gpu nn`: train, record, write.

use crate::config::nn::NnArgs;

pub fn run_cli(args: &NnArgs) -> anyhow::Result<()> {
    let cfg = args.resolve()?;
    println!("{}", serde_json::to_string_pretty(&cfg)?);
    Ok(())
}
