//! Pages of a user's records as last sent, each kept under the user's change number at the time.
//!
//! Every write to a user's records takes the user's next change number in the same transaction as the write
//! (`records::take_seqs`), in whichever process makes it. A page read after the user's change number was read is
//! at least as new as that number, so it may be sent again to anyone who reads the same number: nothing of the
//! user's has changed since. A page kept under an older number is never sent; the next read replaces it.

use actix_web::web::Bytes;
use std::time::Duration;
use uuid::Uuid;

use store::records::{Collection, ListQuery};

/// A page not asked for in this time is dropped, whatever room is left.
const KEPT_IDLE_FOR: Duration = Duration::from_secs(10 * 60);

/// What a page is of: whose records, which collection, in which unit, which query.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PageKey {
    pub user_id: Uuid,
    pub collection: Collection,
    pub oz: bool,
    pub query: ListQuery,
}

#[derive(Clone)]
struct Page {
    change_seq: i64,
    body: Bytes,
}

/// Pages recently sent, by [`PageKey`]; `None` keeps none (`MILKFLOW_PAGE_CACHE_MIB=0`).
pub struct PageCache {
    pages: Option<moka::sync::Cache<PageKey, Page>>,
}

impl Default for PageCache {
    /// The default size of `MILKFLOW_PAGE_CACHE_MIB`.
    fn default() -> Self {
        Self::with_capacity(64 * 1024 * 1024)
    }
}

impl PageCache {
    /// Keeps at most `max_bytes` of pages over all accounts, the least used going first; 0 keeps none.
    pub fn with_capacity(max_bytes: u64) -> Self {
        if max_bytes == 0 {
            return Self { pages: None };
        }
        let pages = moka::sync::Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|key: &PageKey, page: &Page| {
                let size = std::mem::size_of_val(key) + page.body.len();
                u32::try_from(size).unwrap_or(u32::MAX)
            })
            .time_to_idle(KEPT_IDLE_FOR)
            .build();
        Self { pages: Some(pages) }
    }

    /// The page kept for `key`, if it was read when the user's change number was already `change_seq`.
    pub fn get(&self, key: &PageKey, change_seq: i64) -> Option<Bytes> {
        self.pages.as_ref()?.get(key).filter(|p| p.change_seq == change_seq).map(|p| p.body)
    }

    /// Keeps `body` for `key`: a page read after the user's change number was read as `change_seq`.
    pub fn put(&self, key: PageKey, change_seq: i64, body: Bytes) {
        if let Some(pages) = &self.pages {
            pages.insert(key, Page { change_seq, body });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(user_id: Uuid, limit: u64) -> PageKey {
        PageKey {
            user_id,
            collection: Collection::PumpSessions,
            oz: false,
            query: ListQuery { limit, ..Default::default() },
        }
    }

    #[test]
    fn a_page_is_sent_again_only_under_the_change_number_it_was_read_at() {
        let cache = PageCache::default();
        let owner = Uuid::new_v4();
        cache.put(key(owner, 50), 7, Bytes::from_static(b"seven"));
        assert_eq!(cache.get(&key(owner, 50), 7).as_deref(), Some(&b"seven"[..]));
        assert!(cache.get(&key(owner, 50), 8).is_none(), "the owner wrote since");
        assert!(cache.get(&key(owner, 20), 7).is_none(), "another query");
        assert!(cache.get(&key(Uuid::new_v4(), 50), 7).is_none(), "another account");
        let oz = PageKey { oz: true, ..key(owner, 50) };
        assert!(cache.get(&oz, 7).is_none(), "another unit");
        cache.put(key(owner, 50), 8, Bytes::from_static(b"eight"));
        assert!(cache.get(&key(owner, 50), 7).is_none());
        assert_eq!(cache.get(&key(owner, 50), 8).as_deref(), Some(&b"eight"[..]));

        let none = PageCache::with_capacity(0);
        none.put(key(owner, 50), 8, Bytes::from_static(b"eight"));
        assert!(none.get(&key(owner, 50), 8).is_none());
    }
}
