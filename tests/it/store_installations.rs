//! Installation bookkeeping, on SQLite and on PostgreSQL.

use crate::helpers::*;
use ccm::store::InstallationChange;

on_both_databases!(tracks_installations_and_their_repositories);

async fn tracks_installations_and_their_repositories(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store.as_ref();
    assert_eq!(store.installation_for_repository("octo/a").await.unwrap(), None);

    let created = InstallationChange::Upsert {
        id: 7,
        account: Some("octo".into()),
        repositories: Some(vec!["Octo/A".into(), "octo/b".into()]),
    };
    store.apply_installation_change(&created).await.unwrap();
    assert_eq!(store.installation_for_repository("octo/a").await.unwrap(), Some(7));
    assert_eq!(store.installation_for_repository("OCTO/B").await.unwrap(), Some(7));

    store.apply_installation_change(&InstallationChange::Suspended { id: 7, suspended: true }).await.unwrap();
    assert_eq!(store.installation_for_repository("octo/a").await.unwrap(), None);
    store.apply_installation_change(&InstallationChange::Suspended { id: 7, suspended: false }).await.unwrap();
    assert_eq!(store.installation_for_repository("octo/a").await.unwrap(), Some(7));

    let added = InstallationChange::RepositoriesAdded { id: 7, account: None, repositories: vec!["octo/c".into()] };
    store.apply_installation_change(&added).await.unwrap();
    store.apply_installation_change(&added).await.unwrap();
    let removed = InstallationChange::RepositoriesRemoved { id: 7, repositories: vec!["octo/a".into()] };
    store.apply_installation_change(&removed).await.unwrap();
    assert_eq!(store.installation_for_repository("octo/c").await.unwrap(), Some(7));
    assert_eq!(store.installation_for_repository("octo/a").await.unwrap(), None);

    // Re-created with a new list: the list replaces the old one.
    let recreated = InstallationChange::Upsert { id: 7, account: None, repositories: Some(vec!["octo/d".into()]) };
    store.apply_installation_change(&recreated).await.unwrap();
    assert_eq!(store.installation_for_repository("octo/b").await.unwrap(), None);
    assert_eq!(store.installation_for_repository("octo/d").await.unwrap(), Some(7));

    store.apply_installation_change(&InstallationChange::Deleted { id: 7 }).await.unwrap();
    assert_eq!(store.installation_for_repository("octo/d").await.unwrap(), None);
    // A deletion of an installation never seen before is recorded, not an error.
    store.apply_installation_change(&InstallationChange::Deleted { id: 99 }).await.unwrap();
}
