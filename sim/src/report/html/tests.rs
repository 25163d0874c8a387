//! The page as text: its data embedded whole and safely, the same campaign giving the same
//! page, and nothing in it that loads from elsewhere.

use std::time::Duration;

use super::*;
use crate::report::html::build::{Told, run_of};
use crate::world::history::{History, What};

fn page(detail: &str) -> Page {
    let mut history = History::default();
    history.push(0, None, What::Container(detail.into()));
    let run = run_of(Told {
        heading: "a run".into(),
        replay: "replay --seed 1".into(),
        agents: Vec::new(),
        history: &history,
        elapsed: Duration::from_millis(3),
        violation: None,
        rests_on: Vec::new(),
        code: Vec::new(),
        case: None,
    });
    Page {
        command: "replay".into(),
        title: "a <title> & more".into(),
        settings: vec![("seeds".into(), "0..1".into())],
        subjects: vec![SubjectPart {
            name: "m".into(),
            about: String::new(),
            verdict: "pass".into(),
            scenarios: 1,
            seconds: 0.0,
            per_second: 0.0,
            unclassified: 0,
            classes: Vec::new(),
            runs: vec![run],
            coverage: Vec::new(),
            heat: None,
        }],
        tables: Vec::new(),
    }
}

/// The JSON the page embeds, read back.
fn embedded(html: &str) -> serde_json::Value {
    let start = html
        .find(r#"<script type="application/json" id="campaign">"#)
        .unwrap();
    let rest = &html[start..];
    let body = &rest[rest.find('>').unwrap() + 1..rest.find("</script>").unwrap()];
    serde_json::from_str(body).unwrap()
}

#[test]
fn text_that_would_end_the_script_is_embedded_whole() {
    let detail = "</script><script>alert(1)</script> <!-- x";
    let html = page(detail).render();
    let data = embedded(&html);
    assert_eq!(
        data["subjects"][0]["runs"][0]["timeline"]["marks"][0]["label"],
        detail
    );
    assert_eq!(
        html.matches("</script>").count(),
        2,
        "only the page's own two scripts end"
    );
    assert!(html.contains("<title>a &lt;title&gt; &amp; more</title>"));
}

#[test]
fn the_same_campaign_gives_the_same_page() {
    assert_eq!(page("x").render(), page("x").render());
}

#[test]
fn the_page_loads_nothing_from_elsewhere() {
    let html = page("x").render();
    assert!(html.contains("Content-Security-Policy\" content=\"default-src 'none'"));
    for loads in [
        "src=",
        "<link",
        "@import",
        "url(",
        "fetch(",
        "XMLHttpRequest",
    ] {
        assert!(!html.contains(loads), "the page has {loads}");
    }
    // The one address in it is SVG's namespace, which names and loads nothing.
    let addresses: Vec<&str> = html
        .match_indices("http")
        .map(|(i, _)| &html[i..i + 26])
        .collect();
    assert!(
        addresses
            .iter()
            .all(|a| a.starts_with("http://www.w3.org/2000/svg") || a.starts_with("http-equiv")),
        "{addresses:?}"
    );
}
