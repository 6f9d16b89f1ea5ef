//! scratch
use berth_sql::*;
#[tokio::main(flavor = "current_thread")]
async fn main() {
    let pg = "postgres://postgres@127.0.0.1:55432/berth_eval_";
    for name in ["academic", "advising", "atis", "scholar"] {
        let db = Database::new(
            DatabaseUrl::parse(&format!("{pg}{name}")).unwrap(),
            ExecOptions::default(),
        );
        let mut schema = db.introspect(&SampleOptions::default()).await.unwrap();
        let desc = Descriptions::load(std::path::Path::new(&format!(
            "../shared/eval/text2sql/databases/{name}.json"
        )))
        .unwrap();
        schema.apply_descriptions(&desc);
        println!("== {name} {}", schema.tokens());
        for t in &schema.tables {
            let r = render_table(t);
            println!("  {:25} {:5}", t.name.to_string(), r.chars().count() / 4);
        }
        if std::env::args().nth(1).as_deref() == Some(name) {
            println!("{}", schema.render());
        }
    }
}
