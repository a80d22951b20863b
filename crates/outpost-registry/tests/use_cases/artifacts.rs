//! Artifacts and resumable uploads against the in-memory adapters: what is
//! stored, what is refused and leaves nothing behind, and how downloads
//! answer RFC 9110's conditions.

#![expect(clippy::unwrap_used, reason = "tests")]

use outpost_core::auth::Role;
use outpost_core::conditional::{ByteRange, Conditions, Method};
use outpost_core::digest::Digest;
use outpost_core::upload::{MIN_PART_SIZE, StartUpload};
use outpost_registry::blobs::{Answer, download_blob, put_blob};
use outpost_registry::memory::MemoryRegistry;
use outpost_registry::ports::{Actor, Blobs};
use outpost_registry::uploads::{
    Started, abort_upload, complete_upload, put_part, start_upload, upload_status,
};
use pollster::block_on;

fn developer() -> Actor {
    Actor::Caller {
        token_id: "tok_dev".into(),
        name: "ci-developer".into(),
        role: Role::Developer,
    }
}

const BYTES: &[u8] = b"0123456789";

fn stored(registry: &MemoryRegistry) -> Digest {
    let digest = Digest::of(BYTES);
    block_on(put_blob(
        registry,
        "acme",
        &developer(),
        (digest, 10),
        BYTES.to_vec(),
    ))
    .unwrap();
    digest
}

#[test]
fn an_artifact_is_stored_once_and_only_as_declared() {
    let registry = MemoryRegistry::new();
    let digest = Digest::of(BYTES);
    let record = block_on(put_blob(
        &registry,
        "acme",
        &developer(),
        (digest, 10),
        BYTES.to_vec(),
    ))
    .unwrap();
    assert!(record.created);
    let entry = registry.audit_log("acme").pop().unwrap();
    assert_eq!(entry.action, "blob.upload");
    // The same content again is not stored twice; a wrong size for it is
    // refused.
    let again = block_on(put_blob(
        &registry,
        "acme",
        &developer(),
        (digest, 10),
        BYTES.to_vec(),
    ))
    .unwrap();
    assert!(!again.created);
    let wrong = block_on(put_blob(
        &registry,
        "acme",
        &developer(),
        (digest, 11),
        BYTES.to_vec(),
    ))
    .unwrap_err();
    assert_eq!(wrong.to_problem().status, 422);
    assert_eq!(registry.audit_log("acme").len(), 1);

    // Bytes that are not the declared ones store nothing, row or object.
    let other = Digest::of(b"something else");
    for (declared, body) in [
        ((other, 10), BYTES.to_vec()),        // wrong digest
        ((other, 14), b"something".to_vec()), // wrong length
    ] {
        let refused =
            block_on(put_blob(&registry, "acme", &developer(), declared, body)).unwrap_err();
        insta::assert_json_snapshot!(refused.to_problem());
        assert_eq!(registry.has_blob("acme", other), (false, false));
    }
    // A size no single upload can carry is refused before a byte is read.
    let huge = block_on(put_blob(
        &registry,
        "acme",
        &developer(),
        (other, outpost_core::upload::MAX_SINGLE_PUT_SIZE + 1),
        BYTES.to_vec(),
    ))
    .unwrap_err();
    assert_eq!(huge.to_problem().status, 413);
    assert_eq!(registry.has_blob("acme", other), (false, false));
    // Another organisation does not see it.
    assert!(
        block_on(registry.blob_facts("other", &digest))
            .unwrap()
            .is_none()
    );
}

fn get(registry: &MemoryRegistry, digest: &Digest, conditions: Conditions<'_>) -> Answer<Vec<u8>> {
    block_on(download_blob(
        registry,
        "acme",
        digest,
        Method::Get,
        (&conditions, None),
    ))
    .unwrap()
    .answer
}

#[test]
fn downloads_follow_the_conditional_request_rules_as_a_whole() {
    let registry = MemoryRegistry::new();
    let digest = stored(&registry);
    let download = block_on(download_blob(
        &registry,
        "acme",
        &digest,
        Method::Get,
        (&Conditions::default(), None),
    ))
    .unwrap();
    assert_eq!(download.etag, format!("\"{digest}\""));
    assert!(download.last_modified.ends_with(" GMT"));
    assert!(matches!(download.answer, Answer::Whole(Some(ref b)) if b == BYTES));

    // The hostile case: If-Range naming another representation sends all.
    let answer = get(
        &registry,
        &digest,
        Conditions {
            range: Some("bytes=0-9"),
            if_range: Some("\"something-else\""),
            ..Conditions::default()
        },
    );
    assert!(matches!(answer, Answer::Whole(Some(ref b)) if b == BYTES));
    let etag = format!("\"{digest}\"");
    let answer = get(
        &registry,
        &digest,
        Conditions {
            range: Some("bytes=2-4"),
            if_range: Some(&etag),
            ..Conditions::default()
        },
    );
    assert!(matches!(answer, Answer::Part(ByteRange { start: 2, end: 4 }, ref b) if b == b"234"));
    let answer = get(
        &registry,
        &digest,
        Conditions {
            range: Some("bytes=0-1,8-"),
            ..Conditions::default()
        },
    );
    let Answer::Parts(framing, bodies) = answer else {
        panic!("expected a multipart answer");
    };
    assert_eq!(bodies, vec![b"01".to_vec(), b"89".to_vec()]);
    assert!(
        framing
            .content_type
            .starts_with("multipart/byteranges; boundary=")
    );
    assert!(matches!(
        get(
            &registry,
            &digest,
            Conditions {
                if_match: Some("\"sha256:0000\""),
                if_none_match: Some(&etag),
                ..Conditions::default()
            }
        ),
        Answer::PreconditionFailed
    ));
    assert!(matches!(
        get(
            &registry,
            &digest,
            Conditions {
                if_none_match: Some(&etag),
                ..Conditions::default()
            }
        ),
        Answer::NotModified
    ));
    assert!(matches!(
        get(
            &registry,
            &digest,
            Conditions {
                range: Some("bytes=10-"),
                ..Conditions::default()
            }
        ),
        Answer::Unsatisfiable
    ));
    // HEAD opens nothing.
    let head = block_on(download_blob(
        &registry,
        "acme",
        &digest,
        Method::Head,
        (&Conditions::default(), None),
    ))
    .unwrap();
    assert!(matches!(head.answer, Answer::Whole(None)));
    // Unknown digests and other organisations' artifacts are not found.
    let missing = block_on(download_blob(
        &registry,
        "other",
        &digest,
        Method::Get,
        (&Conditions::default(), None),
    ))
    .unwrap_err();
    assert_eq!(missing.to_problem().status, 404);
}

/// An artifact of three parts of the smallest size (the last one short).
fn three_parts() -> (Vec<u8>, Vec<Vec<u8>>) {
    let part = usize::try_from(MIN_PART_SIZE).unwrap();
    let whole: Vec<u8> = (0..2 * part + 7).map(|i| (i % 251) as u8).collect();
    let parts = whole.chunks(part).map(<[u8]>::to_vec).collect();
    (whole, parts)
}

/// Puts every part, numbered from 1, each with its own digest.
fn put_every_part(registry: &MemoryRegistry, id: &str, parts: &[Vec<u8>]) {
    for (i, part) in parts.iter().enumerate() {
        block_on(put_part(
            registry,
            "acme",
            (id, i as u64 + 1),
            Digest::of(part),
            part.clone(),
        ))
        .unwrap();
    }
}

fn start(registry: &MemoryRegistry, whole: &[u8]) -> Started {
    let request = StartUpload {
        digest: Digest::of(whole),
        size: whole.len() as u64,
        part_size: Some(MIN_PART_SIZE),
    };
    block_on(start_upload(registry, "acme", &developer(), &request)).unwrap()
}

#[test]
fn a_multipart_upload_resumes_checks_each_part_and_completes_once() {
    let registry = MemoryRegistry::new();
    let (whole, parts) = three_parts();
    let Started::Opened(state) = start(&registry, &whole) else {
        panic!("expected a new upload");
    };
    assert_eq!((state.parts, state.parts_done.len()), (3, 0));
    let id = state.id.clone();
    let put = |number: u64, bytes: &[u8], declared: Digest| {
        block_on(put_part(
            &registry,
            "acme",
            (&id, number),
            declared,
            bytes.to_vec(),
        ))
    };
    put(1, &parts[0], Digest::of(&parts[0])).unwrap();
    // A part whose bytes are not its declared sha256 is not recorded.
    let wrong = put(2, &parts[1], Digest::of(b"nope")).unwrap_err();
    insta::assert_json_snapshot!(wrong.to_problem());
    assert!(wrong.to_string().contains("digest mismatch"));
    // A part of the wrong length is refused by the store.
    let short = put(2, &parts[1][..10], Digest::of(&parts[1][..10])).unwrap_err();
    assert!(short.to_string().contains("size mismatch"), "{short}");
    // Numbers outside the plan are not parts.
    assert_eq!(
        put(4, &parts[2], Digest::of(&parts[2]))
            .unwrap_err()
            .to_problem()
            .status,
        404
    );

    // Asking again for the same digest resumes, with what arrived.
    let Started::Resumed(resumed) = start(&registry, &whole) else {
        panic!("expected to resume");
    };
    assert_eq!(
        (resumed.id.as_str(), resumed.parts_done.clone()),
        (id.as_str(), vec![1])
    );
    // Completing early names what is missing.
    let early = block_on(complete_upload(&registry, "acme", &developer(), &id)).unwrap_err();
    insta::assert_json_snapshot!(early.to_problem());

    put(3, &parts[2], Digest::of(&parts[2])).unwrap();
    put(2, &parts[1], Digest::of(&parts[1])).unwrap();
    let status = block_on(upload_status(&registry, "acme", &id)).unwrap();
    assert_eq!(status.parts_done, vec![1, 2, 3]);
    let record = block_on(complete_upload(&registry, "acme", &developer(), &id)).unwrap();
    assert!(record.created);
    assert_eq!(registry.has_blob("acme", Digest::of(&whole)), (true, true));
    // The upload is gone; starting again finds the stored artifact.
    assert_eq!(
        block_on(upload_status(&registry, "acme", &id))
            .unwrap_err()
            .to_problem()
            .status,
        404
    );
    assert!(matches!(start(&registry, &whole), Started::Stored(r) if !r.created));
}

#[test]
fn an_upload_that_assembles_to_other_bytes_leaves_nothing() {
    let registry = MemoryRegistry::new();
    let (whole, parts) = three_parts();
    // Declare the digest of other content of the same size.
    let mut other = whole.clone();
    other[0] ^= 1;
    let Started::Opened(state) = start(&registry, &other) else {
        panic!("expected a new upload");
    };
    put_every_part(&registry, &state.id, &parts);
    let refused =
        block_on(complete_upload(&registry, "acme", &developer(), &state.id)).unwrap_err();
    assert_eq!(refused.to_problem().status, 422);
    assert!(
        refused.to_string().contains("nothing was stored"),
        "{refused}"
    );
    assert_eq!(
        registry.has_blob("acme", Digest::of(&other)),
        (false, false)
    );
    assert!(!registry.has_object("acme", Digest::of(&other)));
    assert_eq!(
        block_on(upload_status(&registry, "acme", &state.id))
            .unwrap_err()
            .to_problem()
            .status,
        404
    );
}

#[test]
fn aborting_or_failing_to_start_leaves_no_multipart_upload_behind() {
    let registry = MemoryRegistry::new();
    let (whole, _) = three_parts();
    let Started::Opened(state) = start(&registry, &whole) else {
        panic!("expected a new upload");
    };
    assert_eq!(registry.open_multiparts(), 1);
    block_on(abort_upload(&registry, "acme", &developer(), &state.id)).unwrap();
    assert_eq!(registry.open_multiparts(), 0);
    assert_eq!(
        registry.audit_log("acme").pop().unwrap().action,
        "upload.abort"
    );

    // A start whose row cannot be written abandons its multipart upload.
    registry.fail("commit");
    let request = StartUpload {
        digest: Digest::of(&whole),
        size: whole.len() as u64,
        part_size: Some(MIN_PART_SIZE),
    };
    let failed = block_on(start_upload(&registry, "acme", &developer(), &request)).unwrap_err();
    assert_eq!(failed.to_problem().status, 500);
    assert_eq!(registry.open_multiparts(), 0);
    // An impossible geometry is refused before anything is begun.
    registry.heal("commit");
    let tiny = StartUpload {
        part_size: Some(1),
        ..request
    };
    let refused = block_on(start_upload(&registry, "acme", &developer(), &tiny)).unwrap_err();
    assert_eq!(refused.to_problem().status, 422);
    assert_eq!(registry.open_multiparts(), 0);
}

#[test]
fn artifacts_no_version_refers_to_are_collected_after_their_grace_period() {
    use outpost_core::upload::UNREFERENCED_GRACE_MS;
    use outpost_registry::blobs::{Collected, collect_unreferenced};
    use outpost_registry::memory::NOW;

    let registry = MemoryRegistry::new();
    // An orphan (its registration was refused), one a version uses, and
    // an orphan uploaded just now.
    let orphan = registry.upload("acme", b"orphaned weights");
    registry.add_version("acme", "fraud", "1.0.0", b"registered weights");
    let used = Digest::of(b"registered weights");
    registry.set_now(NOW + UNREFERENCED_GRACE_MS + 1);
    let fresh = registry.upload("acme", b"just uploaded");

    let collected = block_on(collect_unreferenced(&registry, 10)).unwrap();
    assert_eq!(
        collected,
        Collected {
            rows: 1,
            objects: 1
        }
    );
    assert_eq!(registry.has_blob("acme", orphan), (false, false));
    assert_eq!(registry.has_blob("acme", used), (true, true));
    assert_eq!(registry.has_blob("acme", fresh), (true, true));
    let entry = registry.audit_log("acme").pop().unwrap();
    assert_eq!(
        (entry.action.as_str(), entry.actor.as_deref()),
        ("blob.collect", Some("cron"))
    );
    // Nothing left to collect.
    let again = block_on(collect_unreferenced(&registry, 10)).unwrap();
    assert_eq!(again, Collected::default());
}

#[test]
fn an_artifact_uploaded_again_while_collected_keeps_its_object() {
    use outpost_core::upload::UNREFERENCED_GRACE_MS;
    use outpost_registry::blobs::collect_unreferenced;
    use outpost_registry::memory::NOW;

    let registry = MemoryRegistry::new();
    let orphan = registry.upload("acme", b"orphaned weights");
    registry.set_now(NOW + UNREFERENCED_GRACE_MS + 1);
    // The same bytes written again (an upload racing the collection).
    registry.set_blob("acme", orphan, Some(b"orphaned weights".to_vec()));
    let collected = block_on(collect_unreferenced(&registry, 10)).unwrap();
    assert_eq!((collected.rows, collected.objects), (1, 0));
    assert!(registry.has_object("acme", orphan));
}

/// A whole upload of the same digest lands while a multipart upload with
/// wrong bytes is open: completing the wrong one must leave the good
/// object (its parts were assembled elsewhere).
#[test]
fn a_wrong_multipart_upload_cannot_overwrite_a_good_artifact() {
    let registry = MemoryRegistry::new();
    let (whole, parts) = three_parts();
    let mut declared = whole.clone();
    declared[0] ^= 1;
    let Started::Opened(state) = start(&registry, &declared) else {
        panic!("expected a new upload");
    };
    put_every_part(&registry, &state.id, &parts);
    let digest = Digest::of(&declared);
    block_on(put_blob(
        &registry,
        "acme",
        &developer(),
        (digest, declared.len() as u64),
        declared.clone(),
    ))
    .unwrap();
    let refused =
        block_on(complete_upload(&registry, "acme", &developer(), &state.id)).unwrap_err();
    assert_eq!(refused.to_problem().status, 422);
    let served = block_on(download_blob(
        &registry,
        "acme",
        &digest,
        Method::Get,
        (&Conditions::default(), None),
    ))
    .unwrap();
    assert!(matches!(served.answer, Answer::Whole(Some(ref b)) if *b == declared));
}

/// Uploading content stored already (or starting to) restarts its grace
/// period: the registration that follows must find its artifact.
#[test]
fn an_artifact_uploaded_again_is_not_collected_before_its_registration() {
    use outpost_core::upload::UNREFERENCED_GRACE_MS;
    use outpost_registry::blobs::collect_unreferenced;
    use outpost_registry::memory::NOW;

    let registry = MemoryRegistry::new();
    let digest = stored(&registry);
    registry.set_now(NOW + UNREFERENCED_GRACE_MS + 1);
    let again = block_on(put_blob(
        &registry,
        "acme",
        &developer(),
        (digest, 10),
        BYTES.to_vec(),
    ))
    .unwrap();
    assert!(!again.created);
    let collected = block_on(collect_unreferenced(&registry, 10)).unwrap();
    assert_eq!(collected.rows, 0);
    assert_eq!(registry.has_blob("acme", digest), (true, true));
    // A day after that claim, unregistered still, it goes.
    registry.set_now(NOW + 2 * UNREFERENCED_GRACE_MS + 2);
    let collected = block_on(collect_unreferenced(&registry, 10)).unwrap();
    assert_eq!(collected.rows, 1);
}

/// Uploads left open longer than the object store keeps them are aborted
/// there and forgotten by the cron; younger ones stay resumable.
#[test]
fn the_cron_closes_uploads_open_too_long() {
    use outpost_core::upload::UPLOAD_LIFETIME_MS;
    use outpost_registry::memory::NOW;
    use outpost_registry::uploads::expire_stale;

    let registry = MemoryRegistry::new();
    let (whole, _) = three_parts();
    let Started::Opened(old) = start(&registry, &whole) else {
        panic!("expected a new upload");
    };
    registry.set_now(NOW + UPLOAD_LIFETIME_MS);
    let mut other = whole.clone();
    other[1] ^= 1;
    let Started::Opened(young) = start(&registry, &other) else {
        panic!("expected a new upload");
    };
    registry.set_now(NOW + UPLOAD_LIFETIME_MS + 1);
    assert_eq!(registry.open_multiparts(), 2);
    assert_eq!(block_on(expire_stale(&registry, 10)).unwrap(), 1);
    assert_eq!(registry.open_multiparts(), 1);
    let gone = block_on(upload_status(&registry, "acme", &old.id)).unwrap_err();
    assert_eq!(gone.to_problem().status, 404);
    block_on(upload_status(&registry, "acme", &young.id)).unwrap();
    let entry = registry.audit_log("acme").pop().unwrap();
    assert_eq!(
        (entry.action.as_str(), entry.actor.as_deref()),
        ("upload.expire", Some("cron"))
    );
    assert_eq!(block_on(expire_stale(&registry, 10)).unwrap(), 0);
}

mod coded_copies {
    use std::io::Write;

    use outpost_core::content_coding::Coding;
    use outpost_registry::blobs::put_coded_copy;
    use outpost_registry::error::RegistryError;

    use super::*;

    /// Compressible bytes: a model's repetitive structure.
    fn model() -> Vec<u8> {
        (0..20_000u32)
            .flat_map(|i| format!("node {} leaf {};", i % 97, i % 13).into_bytes())
            .collect()
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    fn with_model(registry: &MemoryRegistry) -> (Digest, Vec<u8>) {
        let bytes = model();
        let digest = Digest::of(&bytes);
        block_on(put_blob(
            registry,
            "acme",
            &developer(),
            (digest, bytes.len() as u64),
            bytes.clone(),
        ))
        .unwrap();
        (digest, bytes)
    }

    fn put(
        registry: &MemoryRegistry,
        digest: Digest,
        copy: Vec<u8>,
    ) -> Result<outpost_core::api::CodedCopyRecord, RegistryError> {
        let size = copy.len() as u64;
        block_on(put_coded_copy(
            registry,
            "acme",
            &developer(),
            (digest, Coding::Gzip),
            size,
            copy,
        ))
    }

    fn download(
        registry: &MemoryRegistry,
        digest: &Digest,
        conditions: Conditions<'_>,
        accept: Option<&str>,
    ) -> outpost_registry::blobs::Download<Vec<u8>> {
        block_on(download_blob(
            registry,
            "acme",
            digest,
            Method::Get,
            (&conditions, accept),
        ))
        .unwrap()
    }

    #[test]
    fn a_checked_copy_is_sent_to_clients_that_accept_gzip_and_never_for_ranges() {
        let registry = MemoryRegistry::new();
        let (digest, bytes) = with_model(&registry);
        let copy = gzip(&bytes);
        let record = put(&registry, digest, copy.clone()).unwrap();
        assert!(record.created);
        assert_eq!(
            (record.size, record.encoded_size),
            (bytes.len() as u64, copy.len() as u64)
        );
        assert!(
            registry
                .audit_log("acme")
                .iter()
                .any(|e| e.action == "blob.coded_copy")
        );

        let coded = download(&registry, &digest, Conditions::default(), Some("gzip, br"));
        assert_eq!(coded.coding, Coding::Gzip);
        assert_eq!(coded.size, copy.len() as u64);
        assert_eq!(coded.etag, format!("\"{digest}+gzip\""));
        assert!(matches!(coded.answer, Answer::Whole(Some(ref b)) if *b == copy));

        let plain = download(&registry, &digest, Conditions::default(), None);
        assert_eq!(plain.coding, Coding::Identity);
        assert!(matches!(plain.answer, Answer::Whole(Some(ref b)) if *b == bytes));

        // A range addresses the artifact's bytes, whatever the client accepts.
        let ranged = download(
            &registry,
            &digest,
            Conditions {
                range: Some("bytes=0-9"),
                ..Conditions::default()
            },
            Some("gzip"),
        );
        assert_eq!(ranged.coding, Coding::Identity);
        assert!(matches!(ranged.answer, Answer::Part(_, ref b) if b[..] == bytes[..10]));

        // Each representation is validated by its own tag.
        let tag = format!("\"{digest}+gzip\"");
        let revalidated = download(
            &registry,
            &digest,
            Conditions {
                if_none_match: Some(&tag),
                ..Conditions::default()
            },
            Some("gzip"),
        );
        assert!(matches!(revalidated.answer, Answer::NotModified));
        let identity_tag = format!("\"{digest}\"");
        let other = download(
            &registry,
            &digest,
            Conditions {
                if_none_match: Some(&identity_tag),
                ..Conditions::default()
            },
            Some("gzip"),
        );
        assert!(matches!(other.answer, Answer::Whole(Some(_))));

        // A second copy is not read: the first stays.
        let again = put(&registry, digest, gzip(b"anything")).unwrap();
        assert!(!again.created);
        assert_eq!(again.encoded_size, copy.len() as u64);
        assert_eq!(registry.coded_copies_of("acme", digest), 1);
    }

    #[test]
    fn a_missing_copy_is_not_sent_the_artifact_is() {
        let registry = MemoryRegistry::new();
        let (digest, bytes) = with_model(&registry);
        registry.record_coded_copy(
            "acme",
            digest,
            outpost_registry::ports::StoredCopy {
                size: 10,
                id: "gone".into(),
            },
            Vec::new(),
        );
        block_on(registry.discard_coded_copy("acme", &digest, (Coding::Gzip, "gone"))).unwrap();
        let served = download(&registry, &digest, Conditions::default(), Some("gzip"));
        assert_eq!(served.coding, Coding::Identity);
        assert!(matches!(served.answer, Answer::Whole(Some(ref b)) if *b == bytes));
    }

    #[test]
    fn a_copy_of_other_bytes_a_bomb_garbage_or_no_saving_is_refused_and_nothing_is_kept() {
        let registry = MemoryRegistry::new();
        let (digest, bytes) = with_model(&registry);
        let mut other = bytes.clone();
        other[7] ^= 1;
        let mut longer = bytes.clone();
        longer.extend_from_slice(&bytes);
        let half = bytes.len() / 2;
        let members = [gzip(&bytes[..half]), gzip(&bytes[half..])].concat();
        let mut trailing = gzip(&bytes);
        trailing.extend_from_slice(&[0u8; 16]);
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (gzip(&other), "hashing to"),
            (gzip(&longer), "more than"),
            (gzip(&bytes[..bytes.len() - 1]), "hashing to"),
            (b"not gzip at all".repeat(100), "does not decode"),
            // Decodes to the artifact, in two members: refused anyway.
            (members, "more than one gzip member"),
        ];
        for (copy, expected) in cases {
            let err = put(&registry, digest, copy).unwrap_err();
            assert!(
                matches!(err, RegistryError::CodedCopyMismatch { .. }),
                "{err}"
            );
            assert!(err.to_string().contains(expected), "{err}");
            assert!(err.to_string().contains("nothing was stored"), "{err}");
            assert_eq!(registry.coded_copies_of("acme", digest), 0);
        }
        // Bytes after the member: flate2 reads them as a broken second
        // member, a browser might not; refused either way.
        assert!(matches!(
            put(&registry, digest, trailing).unwrap_err(),
            RegistryError::CodedCopyMismatch { .. }
        ));
        assert_eq!(registry.coded_copies_of("acme", digest), 0);
        // Stored uncompressed: no saving.
        let err = put(&registry, digest, bytes.clone()).unwrap_err();
        assert!(
            matches!(err, RegistryError::CodedCopyNotWorthIt { .. }),
            "{err}"
        );
        assert_eq!(registry.coded_copies_of("acme", digest), 0);
        let plain = download(&registry, &digest, Conditions::default(), Some("gzip"));
        assert_eq!(plain.coding, Coding::Identity);
        // An artifact that is not stored.
        let missing = put(&registry, Digest::of(b"missing"), gzip(&bytes)).unwrap_err();
        assert!(matches!(missing, RegistryError::BlobNotFound { .. }));
    }

    #[test]
    fn of_two_uploads_the_first_recorded_is_kept_and_the_other_deleted() {
        let registry = MemoryRegistry::new();
        let (digest, bytes) = with_model(&registry);
        // Another upload checked and recorded its copy while this one ran.
        let theirs = gzip(&bytes);
        let first = outpost_registry::ports::StoredCopy {
            size: theirs.len() as u64,
            id: "first".into(),
        };
        // The check of this upload sees no copy yet (it read the row before
        // the other upload's write), so it stores its own, then finds the
        // other recorded: it answers with that one and deletes its own.
        let mine = {
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            encoder.write_all(&bytes).unwrap();
            encoder.finish().unwrap()
        };
        registry.record_during_next_copy_upload("acme", digest, first.clone(), theirs.clone());
        let record = put(&registry, digest, mine).unwrap();
        assert!(!record.created);
        assert_eq!(record.encoded_size, theirs.len() as u64);
        assert_eq!(registry.coded_copies_of("acme", digest), 1);
        let served = download(&registry, &digest, Conditions::default(), Some("gzip"));
        assert!(matches!(served.answer, Answer::Whole(Some(ref b)) if *b == theirs));
        assert!(
            !registry
                .audit_log("acme")
                .iter()
                .any(|e| e.action == "blob.coded_copy"),
            "only a kept copy is audited"
        );
    }

    #[test]
    fn a_copy_larger_than_one_request_takes_is_refused_unread() {
        let registry = MemoryRegistry::new();
        let (digest, _) = with_model(&registry);
        let err = block_on(put_coded_copy(
            &registry,
            "acme",
            &developer(),
            (digest, Coding::Gzip),
            outpost_core::upload::MAX_PART_SIZE + 1,
            Vec::new(),
        ))
        .unwrap_err();
        assert!(matches!(err, RegistryError::BlobTooLarge { .. }), "{err}");
    }

    #[test]
    fn a_sealed_organisation_keeps_no_plaintext_copy() {
        let registry = MemoryRegistry::new();
        registry.configure_at_rest(true);
        let (digest, bytes) = with_model(&registry);
        put(&registry, digest, gzip(&bytes)).unwrap();
        let admin = Actor::Caller {
            token_id: "tok_admin".into(),
            name: "ci-admin".into(),
            role: Role::Admin,
        };
        block_on(outpost_registry::encryption::enable_encryption(
            &registry, "acme", &admin,
        ))
        .unwrap();
        // From the moment encryption is on, the copy is not sent...
        let plain = download(&registry, &digest, Conditions::default(), Some("gzip"));
        assert_eq!(plain.coding, Coding::Identity);
        // ...re-sealing removes it...
        registry.reseal_all("acme");
        assert_eq!(registry.coded_copies_of("acme", digest), 0);
        // ...and no new one is taken.
        let err = put(&registry, digest, gzip(&bytes)).unwrap_err();
        assert!(
            matches!(err, RegistryError::CodedCopySealed { .. }),
            "{err}"
        );
        assert_eq!(registry.coded_copies_of("acme", digest), 0);
    }
}
