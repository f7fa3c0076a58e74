#[derive(clap::Args)]
pub struct Args {
    /// Output format: table or json (a JSON array of pids)
    #[arg(short, long, default_value = "table", value_parser = ["table", "json"])]
    format: String,
    /// The container's id
    id: String,
    /// Accepted for runc compatibility (ps options); the table is hostproc's own
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    ps_args: Vec<String>,
}

pub fn exec(cli: &crate::Global, a: &Args) -> super::Result {
    let pids = hostproc_container::ps(&cli.root, &a.id)?;
    if a.format == "json" {
        println!("{}", serde_json::to_string(&pids).expect("pids serialize"));
        return Ok(0);
    }
    println!("{:>8} {:>8} {:<10} CMD", "PID", "PPID", "UID");
    for pid in pids {
        // One file for both: status has the parent's pid and the real uid.
        let status = hostproc_sys::read_kernel_file(std::path::Path::new(&format!("/proc/{pid}/status"))).unwrap_or_default();
        let field = |key: &str| status.lines().find_map(|l| l.strip_prefix(key)?.split_whitespace().next()).unwrap_or("?");
        let (ppid, uid) = (field("PPid:"), field("Uid:"));
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline"))
            .map(|b| String::from_utf8_lossy(&b).replace('\0', " ").trim().to_owned())
            .unwrap_or_default();
        println!("{pid:>8} {ppid:>8} {uid:<10} {cmd}");
    }
    Ok(0)
}
