//! Per-shard media port pools: even pairs, disjoint slices, FIFO reuse, errors not panics.

use std::collections::HashSet;

use handoff::media::{PortPool, PortPoolError};

#[test]
fn shards_get_disjoint_even_pairs_covering_the_range() {
    let range = (20001, 20101); // first even port 20002, last pair 20098/20099
    let mut seen = HashSet::new();
    let mut total = 0;
    for shard in 0..3 {
        let mut pool = PortPool::for_shard(range, shard, 3).unwrap();
        total += pool.capacity();
        while let Some(port) = pool.allocate() {
            assert_eq!(port % 2, 0);
            assert!(port >= 20002 && port + 1 < 20101);
            assert!(seen.insert(port), "port {port} in two shards");
        }
    }
    assert_eq!(total, 49);
    assert_eq!(seen.len(), 49);
}

#[test]
fn slices_differ_by_at_most_one_pair() {
    let sizes: Vec<usize> = (0..4)
        .map(|s| {
            PortPool::for_shard((10000, 10022), s, 4)
                .unwrap()
                .capacity()
        })
        .collect();
    assert_eq!(sizes, vec![3, 3, 3, 2]);
}

#[test]
fn allocation_is_fifo_so_freed_ports_are_reused_last() {
    let mut pool = PortPool::for_shard((30000, 30008), 0, 1).unwrap();
    let first = pool.allocate().unwrap();
    assert_eq!(first, 30000);
    pool.release(first).unwrap();
    assert_eq!(pool.allocate(), Some(30002));
    assert_eq!(pool.allocate(), Some(30004));
    assert_eq!(pool.allocate(), Some(30006));
    assert_eq!(pool.allocate(), Some(30000));
    assert_eq!(pool.allocate(), None);
    assert_eq!(pool.in_use(), 4);
    assert_eq!(pool.capacity(), 4);
}

#[test]
fn double_release_and_foreign_ports_are_errors() {
    let mut pool = PortPool::for_shard((30000, 30008), 0, 1).unwrap();
    let port = pool.allocate().unwrap();
    pool.release(port).unwrap();
    assert_eq!(
        pool.release(port),
        Err(PortPoolError::NotAllocated { port })
    );
    assert!(matches!(
        pool.release(30001),
        Err(PortPoolError::ForeignPort { port: 30001, .. })
    ));
    assert!(matches!(
        pool.release(40000),
        Err(PortPoolError::ForeignPort { .. })
    ));
    assert_eq!(pool.in_use(), 0);
}

#[test]
fn impossible_shard_layouts_are_errors() {
    assert!(PortPool::for_shard((30000, 30008), 0, 0).is_err());
    assert!(PortPool::for_shard((30000, 30008), 2, 2).is_err());
    // An empty or inverted range gives empty pools, not a panic.
    assert_eq!(
        PortPool::for_shard((30008, 30000), 0, 1)
            .unwrap()
            .capacity(),
        0
    );
    assert_eq!(
        PortPool::for_shard((65534, 65535), 0, 1)
            .unwrap()
            .capacity(),
        0
    );
    assert_eq!(
        PortPool::for_shard((65532, 65535), 0, 1)
            .unwrap()
            .capacity(),
        1
    );
}
