use hostproc_pod::run as pod;

#[derive(clap::Args)]
pub struct Args {
    /// Output: a table, or Kubernetes Pods (metadata + status) as json or yaml
    #[arg(short, long, value_parser = ["json", "yaml"])]
    output: Option<String>,
}

pub fn exec(g: &crate::Global, a: &Args) -> super::super::Result {
    let pods = pod::list(&g.root).map_err(super::err)?;
    match a.output.as_deref() {
        None => print!("{}", pod::ops::table(&pods)),
        Some(fmt) => {
            let items: Vec<_> = pods.iter().map(|(_, s)| s.to_pod()).collect();
            let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items});
            if fmt == "json" {
                println!("{}", serde_json::to_string_pretty(&list).expect("json"));
            } else {
                print!("{}", hostproc_pod::run::to_yaml(&list));
            }
        }
    }
    Ok(0)
}
