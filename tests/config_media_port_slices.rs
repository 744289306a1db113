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

#[test]
fn all_slices_at_once_or_an_error_naming_the_shortfall() {
    let sbc = with_ports(30000, 30008).sbc; // 4 pairs
    assert_eq!(
        sbc.media_port_slices(2),
        Ok(vec![(30000, 30004), (30004, 30008)])
    );
    let error = sbc.media_port_slices(5).expect_err("5 shards, 4 pairs");
    assert_eq!(
        error.to_string(),
        "sbc.media_ports [30000, 30008) holds 4 RTP/RTCP pairs, fewer than the 5 shards; widen the range or set sbc.shards"
    );
    assert!(sbc.media_port_slices(0).is_err());
}
