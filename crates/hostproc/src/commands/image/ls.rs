use hostproc_image::Store;

#[derive(clap::Args)]
pub struct Args {
    /// Output format: table or json
    #[arg(short, long, default_value = "table", value_parser = ["table", "json"])]
    format: String,
    /// Print only the names
    #[arg(short, long)]
    quiet: bool,
}

pub fn exec(store: &Store, a: &Args) -> super::Result {
    let all = store.list()?;
    if a.quiet {
        for s in &all {
            println!("{}", s.name);
        }
    } else if a.format == "json" {
        println!("{}", serde_json::to_string(&all).expect("list serializes"));
    } else {
        println!("{:<50} {:<20} {:>10}", "NAME", "DIGEST", "SIZE");
        for s in &all {
            let short = s.digest.trim_start_matches("sha256:").get(..12).unwrap_or("");
            println!("{:<50} sha256:{short:<13} {:>10}", s.name, s.size);
        }
    }
    Ok(0)
}
