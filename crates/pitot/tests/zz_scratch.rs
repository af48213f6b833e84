//! scratch
mod common;
use common::*;
#[test]
fn scratch() {
    let s = TestServer::start(&[]);
    let t = now_ms() - 60_000;
    let (st, b) = s.push(&s.initial_token, &write_request(vec![series(&[("__name__", "z")], &[(t, 1.0), (t + 1000, -0.0), (t + 2000, 0.0), (t+3000, -0.0)])]));
    println!("{st} {b}");
    let r = s.get("/api/v1/export").bearer_auth(&s.initial_token).query(&[("match[]", "z")]).send().unwrap().text().unwrap();
    println!("RAW {r}");
    println!("{}", serde_json::to_string(&serde_json::json!([-0.0f64])).unwrap());
}
