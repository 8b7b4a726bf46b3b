use std::time::Instant;
fn main() {
    let body = std::fs::read(std::env::args().nth(1).unwrap()).unwrap();
    let secret = b"bench-secret";
    let sig = ccm::webhook::signature::sign(secret, &body);
    let secrets = ccm::webhook::WebhookSecrets::new(&["bench-secret"]);
    let n = 20000;
    let t = Instant::now();
    for _ in 0..n {
        assert!(secrets.verify(&body, &sig));
    }
    println!("verify {:.1} us", t.elapsed().as_secs_f64() * 1e6 / n as f64);
    let t = Instant::now();
    for _ in 0..n {
        std::hint::black_box(ccm::webhook::body::compress(&body));
    }
    println!(
        "compress {:.1} us ({} -> {})",
        t.elapsed().as_secs_f64() * 1e6 / n as f64,
        body.len(),
        ccm::webhook::body::compress(&body).len()
    );
    let t = Instant::now();
    for _ in 0..n {
        std::hint::black_box(ccm::webhook::plan::processing("workflow_run", &body));
    }
    println!("plan {:.1} us", t.elapsed().as_secs_f64() * 1e6 / n as f64);
    let t = Instant::now();
    for _ in 0..n {
        std::hint::black_box(serde_json::from_slice::<serde::de::IgnoredAny>(&body).unwrap());
    }
    println!("json scan {:.1} us", t.elapsed().as_secs_f64() * 1e6 / n as f64);
    let t = Instant::now();
    for _ in 0..n {
        let d = ccm::webhook::SignedDelivery {
            guid: "g".into(),
            event: "workflow_run".into(),
            hook_id: None,
            headers: serde_json::json!({"a": "b"}),
            payload: body.clone().into(),
        };
        std::hint::black_box(ccm::webhook::prepare(d));
    }
    println!("prepare {:.1} us", t.elapsed().as_secs_f64() * 1e6 / n as f64);
}
