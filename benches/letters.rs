//! Letter rendering speed (`cargo bench --bench letters`): each letter kind rendered from the
//! sample case (text and HTML) with the bundled templates, and the same with the compliance
//! check, as a draft is written. Target: under a millisecond a letter.

use criterion::{Criterion, criterion_group, criterion_main};
use redress::letters::templates::{KINDS, Templates, render_checked};
use redress::letters::{context, sample};

fn bench(c: &mut Criterion) {
    let templates = Templates::bundled().expect("the bundled templates load");
    let config = sample::config();
    let case = sample::case(&[]);
    let today = chrono::NaiveDate::from_ymd_opt(2026, 12, 21).expect("a date");
    let mut group = c.benchmark_group("letters");
    for (name, letter) in KINDS {
        let ctx = context::build(&case, letter, &config, today);
        group.bench_function(format!("render/{name}"), |b| {
            b.iter(|| std::hint::black_box(templates.render(letter, &ctx).expect("renders")))
        });
        group.bench_function(format!("render_and_check/{name}"), |b| {
            b.iter(|| {
                std::hint::black_box(render_checked(&templates, letter, &ctx).expect("renders"))
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench
}
criterion_main!(benches);
