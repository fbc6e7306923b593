//! Classification speed (`cargo bench --bench classify`): classifications per second on one
//! core over the labelled corpus with the shipped rules (alone, and with the shipped learned
//! component at its default influence), and the time for one message with a
//! 1 MB body, which must grow linearly with size (the regex crate guarantees linear-time
//! matching; this shows the rest of the pipeline keeps it so).

use std::path::Path;
use std::time::Instant;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use redress::classify::engine::{DEFAULT_INFLUENCE, Engine, Input, Uncertain};
use redress::classify::eval::{Labelled, parse_labelled};
use redress::classify::learned;
use redress::classify::rules::load_default;

fn corpus() -> Vec<Labelled> {
    let mut out = Vec::new();
    for part in ["tune", "heldout"] {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/corpus")
            .join(part);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            if let Ok(text) = std::fs::read_to_string(e.path())
                && let Ok(m) = parse_labelled(&text)
            {
                out.push(m);
            }
        }
    }
    out
}

fn bench(c: &mut Criterion) {
    let engine = Engine::new(
        load_default().expect("the shipped rules are valid"),
        Uncertain::ComplaintForReview,
    );
    let corpus = corpus();
    let mut group = c.benchmark_group("classify");
    group.throughput(Throughput::Elements(corpus.len().max(1) as u64));
    let run = |engine: &Engine| {
        for m in &corpus {
            std::hint::black_box(engine.classify(&m.input()));
        }
    };
    group.bench_function("corpus", |b| b.iter(|| run(&engine)));
    // As the daemon runs it: the learned component trained on the tune part only.
    let with_model = engine
        .clone()
        .with_model(learned::shipped(), DEFAULT_INFLUENCE);
    group.bench_function("corpus_with_model", |b| b.iter(|| run(&with_model)));
    group.finish();

    // One large message at 128 KB, 256 KB, 512 KB and 1 MB: the times should double with size.
    let line =
        "The damp in the back bedroom is getting worse and the mould is on the walls again. ";
    for kb in [128usize, 256, 512, 1024] {
        let body = line.repeat(kb * 1024 / line.len());
        let input = Input {
            subject: "Damp",
            body: &body,
            channel: redress::core::model::Channel::Email,
            context: redress::classify::Context::None,
        };
        let start = Instant::now();
        let runs = 5;
        for _ in 0..runs {
            std::hint::black_box(engine.classify(&input));
        }
        println!("classify one {kb} KB message: {:?}", start.elapsed() / runs);
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = bench
}
criterion_main!(benches);
