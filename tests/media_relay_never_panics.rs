//! Random packets, sources, slots, opens, updates and closes never panic the relay table, and
//! the counters add up: every packet on an open call is either forwarded or counted as dropped.

mod media_relay_support;
use handoff::media::G711Law;
use media_relay_support::*;
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Step {
    Packet { slot: u32, src: u8, bytes: Vec<u8> },
    Open { call: u64, mux_a: bool, mux_b: bool },
    Update { call: u64, mux_a: bool },
    Laws { call: u64, a_ulaw: bool },
    Close { call: u64 },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => (0..24u32, 0..4u8, proptest::collection::vec(any::<u8>(), 0..40))
            .prop_map(|(slot, src, bytes)| Step::Packet { slot, src, bytes }),
        1 => (0..4u64, any::<bool>(), any::<bool>()).prop_map(|(call, mux_a, mux_b)| Step::Open { call, mux_a, mux_b }),
        1 => (0..4u64, any::<bool>()).prop_map(|(call, mux_a)| Step::Update { call, mux_a }),
        1 => (0..4u64, any::<bool>()).prop_map(|(call, a_ulaw)| Step::Laws { call, a_ulaw }),
        1 => (0..4u64).prop_map(|call| Step::Close { call }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn any_sequence_is_safe_and_counted(steps in proptest::collection::vec(step(), 0..120)) {
        let mut table = RelayTable::new();
        let mut seen = [0u64; 4];
        for step in steps {
            match step {
                Step::Packet { slot, src, mut bytes } => {
                    let owner = table.slot_info(SlotId(slot)).map(|info| info.call.seq as usize);
                    let source = addr(&format!("192.0.2.{src}:4000"));
                    if let RelayDecision::Forward { transcode: Some(t), .. } = table.on_packet(T0, SlotId(slot), source, &bytes) {
                        prop_assert!(t.apply(&mut bytes));
                    }
                    if let Some(owner) = owner {
                        seen[owner] += 1;
                    }
                }
                Step::Open { call: c, mux_a, mux_b } => {
                    let a = leg(30000 + c as u16 * 4, Some("198.51.100.1:5000"), mux_a);
                    let b = leg(30002 + c as u16 * 4, None, mux_b);
                    if table.open(call(c), a, b).is_ok() {
                        seen[c as usize] = 0;
                    }
                }
                Step::Update { call: c, mux_a } => {
                    let _ = table.update(call(c), leg(1, Some("198.51.100.2:5000"), mux_a), leg(2, None, false));
                }
                Step::Laws { call: c, a_ulaw } => {
                    let a = if a_ulaw { G711Law::Ulaw } else { G711Law::Alaw };
                    let _ = table.set_laws(call(c), Some(a), Some(G711Law::Alaw));
                }
                Step::Close { call: c } => {
                    if let Ok(counters) = table.close(call(c)) {
                        prop_assert_eq!(counters.a_to_b_packets + counters.b_to_a_packets + counters.dropped, seen[c as usize]);
                    }
                }
            }
        }
    }
}
