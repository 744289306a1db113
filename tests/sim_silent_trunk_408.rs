//! A trunk that never answers: Timer B on leg B gives 408 toward the caller.

use handoff::sim::{CARRIER, Sim, SimOptions, scenarios};

#[test]
fn silent_trunk_gives_408_after_timer_b() {
    let mut sim = Sim::new(SimOptions::default().seed(13));
    scenarios::silent_trunk(&mut sim).unwrap();
    // Timer B is 64*T1 = 32 s with the default T1.
    let t = sim.now.as_millis();
    assert!((32_000..34_000).contains(&t), "408 at {t} ms");
    assert_eq!(sim.ua_ref(CARRIER).timeouts, Vec::<String>::new());
}
