#[derive(clap::Args)]
pub struct Args {
    /// Output format: table or json
    #[arg(short, long, default_value = "table", value_parser = ["table", "json"])]
    format: String,
    /// Print only the ids
    #[arg(short, long)]
    quiet: bool,
}

pub fn exec(cli: &crate::Global, a: &Args) -> super::Result {
    let all = hostproc_container::list(&cli.root)?;
    if a.quiet {
        for s in &all {
            println!("{}", s.id);
        }
    } else if a.format == "json" {
        let v: Vec<_> = all.iter().map(|s| s.public()).collect();
        println!("{}", serde_json::to_string(&v).expect("list serializes"));
    } else {
        println!("{:<20} {:<8} {:<10} {:<40} {:<30} OWNER", "ID", "PID", "STATUS", "BUNDLE", "CREATED");
        for s in &all {
            let p = s.public();
            println!("{:<20} {:<8} {:<10} {:<40} {:<30} {}", p.id, p.pid, p.status, p.bundle.display(), p.created, p.owner);
        }
    }
    Ok(0)
}
