//! The consultation report: one HTML page with five server-drawn SVG charts, for the owner and for a member
//! whose grant has both `stats:read` and `logs:read`.

use milkflow_tests::{Db, TestApp, on_both_databases, spawn_app};
use serde_json::json;

use crate::care_team::{account, member_of, owner_with_logs};

on_both_databases!(the_report_is_one_page_of_charts_for_the_owner_and_a_member_allowed_both_reads);

async fn the_report_is_one_page_of_charts_for_the_owner_and_a_member_allowed_both_reads(app: TestApp) {
    let owner = owner_with_logs(&app).await;
    let name = json!({"display_name": "Ana <b>"});
    app.send(reqwest::Method::PATCH, "/v1/me", Some(&name), Some(&owner.token)).await;
    let page = app.client.get(format!("{}/v1/report", app.address)).bearer_auth(&owner.token).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
    assert!(page.headers()["content-security-policy"].to_str().unwrap().contains("default-src 'none'"));
    let html = page.text().await.unwrap();
    assert_eq!(html.matches("<svg").count(), 5, "{html}");
    assert!(html.contains("Ana &lt;b&gt;"), "the name is escaped");
    assert!(html.contains("<strong>1</strong>pump sessions"), "{html}");
    assert!(html.contains("data-rule=\"fever\""), "the active fever advisory is on the page");
    let bad = app.get("/v1/report?from=2026-12-05&to=2026-11-01", Some(&owner.token)).await;
    assert_eq!(bad.assert_problem(422)["errors"][0]["field"], "to");
    let long = app.get("/v1/report?from=2026-01-01&to=2026-12-01", Some(&owner.token)).await;
    assert_eq!(long.assert_problem(422)["errors"][0]["field"], "from");

    let path = format!("/v1/clients/{}/report", owner.id);
    let consultant = member_of(&app, &owner, json!({"role": "consultant"})).await;
    let theirs = app.client.get(format!("{}{path}", app.address)).bearer_auth(&consultant.token).send().await.unwrap();
    assert_eq!(theirs.status(), 200);
    assert_eq!(theirs.text().await.unwrap().matches("<svg").count(), 5);
    let log = app.get("/v1/care-team/access-log", Some(&owner.token)).await;
    assert_eq!(log.body["items"][0]["resource"], "report");
    // A partner reads stats but not logs; a stranger nothing.
    let partner = member_of(&app, &owner, json!({"role": "partner"})).await;
    app.get(&path, Some(&partner.token)).await.assert_problem(404);
    let only_logs = member_of(&app, &owner, json!({"role": "consultant", "scopes": ["logs:read"]})).await;
    app.get(&path, Some(&only_logs.token)).await.assert_problem(404);
    let stranger = account(&app, true).await;
    app.get(&path, Some(&stranger.token)).await.assert_problem(404);
}

/// Headless Chromium from Debian's packages, when installed (CI installs it; elsewhere the test says it is
/// skipped).
fn chromium() -> Option<&'static str> {
    let found = ["chromium", "chromium-browser"]
        .into_iter()
        .find(|c| std::process::Command::new(c).arg("--version").output().is_ok_and(|o| o.status.success()));
    if found.is_none() {
        assert!(std::env::var("CI").is_err(), "Chromium must be installed in CI");
        eprintln!("skipped: no chromium");
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_renders_in_headless_chromium_with_its_charts_and_no_errors() {
    let Some(browser) = chromium() else { return };
    let app = spawn_app(Db::Sqlite).await.unwrap();
    let owner = owner_with_logs(&app).await;
    let page = app.client.get(format!("{}/v1/report", app.address)).bearer_auth(&owner.token).send().await.unwrap();
    let html = page.text().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("report.html");
    std::fs::write(&file, &html).unwrap();
    let url = format!("file://{}", file.display());
    let shot = dir.path().join("report.png");
    let run = |extra: Vec<String>| {
        let mut args = vec!["--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0"]
            .into_iter()
            .map(str::to_owned)
            .collect::<Vec<_>>();
        args.push(format!("--user-data-dir={}", dir.path().join("profile").display()));
        args.extend(extra);
        args.push(url.clone());
        let out = std::process::Command::new(browser).args(&args).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (dom, log) = run(vec!["--dump-dom".into()]);
    // Chromium parsed the page into five charts, each with its drawing and its words.
    assert_eq!(dom.matches("<svg").count(), 5, "{dom}");
    for id in ["volume", "sessions", "effect", "timeline", "spots"] {
        let start = dom.find(&format!("data-chart=\"{id}\"")).unwrap_or_else(|| panic!("no {id} chart"));
        let figure = &dom[start..start + dom[start..].find("</figure>").unwrap()];
        assert!(figure.contains("<rect") || figure.contains("<circle"), "{id} draws nothing");
        assert!(figure.contains("<text"), "{id} has no labels");
    }
    let errors: Vec<&str> =
        log.lines().filter(|l| l.contains("CONSOLE") || l.contains("Uncaught") || l.contains("Refused to")).collect();
    assert!(errors.is_empty(), "{errors:?}");
    let (_, log) = run(vec![format!("--screenshot={}", shot.display()), "--window-size=880,1240".into()]);
    let png = std::fs::read(&shot).unwrap_or_else(|e| panic!("no screenshot ({e}): {log}"));
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 20_000,
        "a page of charts, not a blank one: {} bytes",
        png.len()
    );
}
