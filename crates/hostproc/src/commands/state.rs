#[derive(clap::Args)]
pub struct Args {
    /// The container's id
    id: String,
}

pub fn exec(cli: &crate::Global, a: &Args) -> super::Result {
    let st = hostproc_container::load_state(&cli.root, &a.id)?;
    println!("{}", serde_json::to_string_pretty(&st.public()).expect("state serializes"));
    Ok(0)
}
