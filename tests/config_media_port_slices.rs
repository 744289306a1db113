//! The media port range splits into one contiguous, even-aligned slice per shard.

use handoff::config::Config;

fn with_ports(start: u16, end: u16) -> Config {
    let text = format!("[sbc]\nmedia_ports = [{start}, {end}]\n");
    match Config::from_toml_str(&text, "ports.toml") {
        Ok(config) => config,
        Err(errors) => panic!("{errors}"),
    }
}

#[test]
fn slices_are_even_contiguous_and_cover_the_pairs() {
    let sbc = with_ports(20000, 20022).sbc; // 11 pairs
    let slices: Vec<(u16, u16)> = (0..3)
        .map(|i| sbc.media_port_slice(i, 3).unwrap())
        .collect();
    assert_eq!(slices, vec![(20000, 20006), (20006, 20012), (20012, 20022)]);
    for (start, end) in &slices {
        assert_eq!(start % 2, 0);
        assert_eq!((end - start) % 2, 0);
    }
}

#[test]
fn odd_end_leaves_the_last_port_unused() {
    let sbc = with_ports(30000, 30009).sbc; // 4 whole pairs
    assert_eq!(sbc.media_port_slice(0, 1), Some((30000, 30008)));
}

#[test]
fn too_many_shards_or_bad_index_gives_none() {
    let sbc = with_ports(30000, 30004).sbc; // 2 pairs
    assert_eq!(sbc.media_port_slice(0, 3), None);
    assert_eq!(sbc.media_port_slice(2, 2), None);
    assert_eq!(sbc.media_port_slice(0, 0), None);
}
