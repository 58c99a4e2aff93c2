//! How the services talk to PostgreSQL.

use milkflow_tests::postgres::server_url;
use platform::DatabaseKind;
use sea_orm::sqlx::postgres::PgConnectOptions;
use std::str::FromStr;

/// Every TCP socket of this process connected to `port`, with whether it has `TCP_NODELAY` set.
fn sockets_to(port: u16) -> Vec<bool> {
    let fds = std::fs::read_dir("/proc/self/fd").expect("/proc/self/fd");
    let mut found = Vec::new();
    for fd in fds.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<libc::c_int>().ok()) {
        // SAFETY: plain system calls on a descriptor number with buffers of the sizes given; a descriptor that
        // is not a TCP socket (or closed meanwhile) makes them fail, and it is skipped.
        unsafe {
            let mut peer: libc::sockaddr_storage = std::mem::zeroed();
            let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            if libc::getpeername(fd, (&raw mut peer).cast(), &mut len) != 0 {
                continue;
            }
            let peer_port = match libc::c_int::from(peer.ss_family) {
                libc::AF_INET => u16::from_be((*(&raw const peer).cast::<libc::sockaddr_in>()).sin_port),
                libc::AF_INET6 => u16::from_be((*(&raw const peer).cast::<libc::sockaddr_in6>()).sin6_port),
                _ => continue,
            };
            if peer_port != port {
                continue;
            }
            let mut on: libc::c_int = 0;
            let mut on_len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
            let rc = libc::getsockopt(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY, (&raw mut on).cast(), &mut on_len);
            assert_eq!(rc, 0, "getsockopt(TCP_NODELAY) on a TCP socket");
            found.push(on != 0);
        }
    }
    found
}

/// A statement written in parts must not wait for PostgreSQL's delayed ACK (40 ms on Linux): under concurrent
/// writes that stalled the API's write transactions about 50 ms at a time (vendor/README.md).
#[tokio::test]
async fn database_sockets_send_at_once() {
    let url = server_url();
    let port = PgConnectOptions::from_str(&url).expect("a PostgreSQL URL").get_port();
    let db = match store::db::connect(&url, DatabaseKind::Postgres, 2).await {
        Ok(db) => db,
        Err(e) if std::env::var("CI").as_deref() != Ok("true") => {
            eprintln!("SKIPPED: PostgreSQL is unreachable at {url}: {e}");
            return;
        }
        Err(e) => panic!("PostgreSQL is unreachable at {url} and CI=true: {e}"),
    };
    assert!(store::db::ping(&db).await);
    let sockets = sockets_to(port);
    assert!(!sockets.is_empty(), "a pooled connection to port {port} is open");
    assert!(sockets.iter().all(|nodelay| *nodelay), "TCP_NODELAY on every database socket: {sockets:?}");
}

/// On PostgreSQL an occurrence names exactly one source (a routine or a broadcast), and states, statuses and
/// platforms are only the names the code knows. (SQLite cannot add checks to the tables it has.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_refuses_an_occurrence_of_no_or_two_sources_and_unknown_names() {
    use sea_orm::ConnectionTrait;
    let Some(app) = milkflow_tests::spawn_app(milkflow_tests::Db::Postgres).await else { return };
    let (token, _) = app.signed_up().await;
    let me = app.get("/v1/me", Some(&token)).await.body["id"].as_str().unwrap().to_owned();
    let (occ, dev) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    let occurrence = |id: &str, routine: &str, broadcast: &str, kind: &str, topic: &str, state: &str| {
        format!(
            "INSERT INTO occurrences (id, user_id, routine_id, broadcast_id, kind, routine_kind, due_at, state, \
             created_at, updated_at) VALUES ({id}, '{me}', {routine}, {broadcast}, '{kind}', '{topic}', now(), \
             '{state}', now(), now())"
        )
    };
    let device = |id: &str, platform: &str| {
        format!(
            "INSERT INTO devices (id, user_id, platform, target, locale, created_at, updated_at) \
             VALUES ({id}, '{me}', '{platform}', {id}::text, 'en', now(), now())"
        )
    };
    let delivery = |provider: &str, status: &str| {
        format!(
            "INSERT INTO deliveries (id, occurrence_id, device_id, user_id, provider, status, attempts, \
             next_attempt_at, due_at, expires_at, created_at, updated_at) VALUES (gen_random_uuid(), '{occ}', \
             '{dev}', '{me}', '{provider}', '{status}', 0, now(), now(), now(), now(), now())"
        )
    };
    let new = "gen_random_uuid()";
    for good in [
        occurrence(&format!("'{occ}'"), new, "NULL", "routine", "pump", "planned"),
        occurrence(new, "NULL", new, "broadcast", "broadcast", "sent"),
        device(&format!("'{dev}'"), "fcm"),
        delivery("fcm", "retrying"),
    ] {
        app.db.execute_unprepared(&good).await.unwrap_or_else(|e| panic!("{good}: {e}"));
    }
    for bad in [
        occurrence(new, "NULL", "NULL", "routine", "pump", "planned"),
        occurrence(new, new, new, "routine", "pump", "planned"),
        occurrence(new, new, "NULL", "routine", "broadcast", "planned"),
        occurrence(new, "NULL", new, "broadcast", "pump", "planned"),
        occurrence(new, new, "NULL", "care_alert", "care_alert", "planned"),
        occurrence(new, new, "NULL", "reminder", "pump", "planned"),
        occurrence(new, new, "NULL", "routine", "pump", "waiting"),
        device(new, "sms"),
        delivery("sms", "pending"),
        delivery("fcm", "lost"),
    ] {
        let e = app.db.execute_unprepared(&bad).await.expect_err(&bad).to_string();
        assert!(e.contains("check constraint"), "{bad}: {e}");
    }
}
