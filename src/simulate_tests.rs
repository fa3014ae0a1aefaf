use super::*;

const BANGKOK: (f64, f64) = (13.7563, 100.5018);

fn walk(collar: &mut Collar, samples: usize, every: Duration) -> Vec<Sample> {
    (0..samples)
        .map(|i| collar.step(every, 1_764_151_500_000 + i as i64))
        .collect()
}

fn metres_between(a: (f64, f64), b: (f64, f64)) -> f64 {
    let north = (a.0 - b.0) * METRES_PER_DEGREE;
    let east = (a.1 - b.1) * METRES_PER_DEGREE * a.0.to_radians().cos();
    east.hypot(north)
}

#[test]
fn a_pet_stays_near_home_over_many_steps() {
    for seed in 0..8 {
        let mut collar = Collar::new(BANGKOK, seed);
        assert!(metres_between(collar.home, BANGKOK) <= HOME_SPREAD_M + 1.0);
        for sample in walk(&mut collar, 3_000, Duration::from_secs(30)) {
            let true_distance = collar.offset.0.hypot(collar.offset.1);
            assert!(
                true_distance < ROAM_LIMIT_M + 50.0,
                "{true_distance} m from home"
            );
            if let (Some(lat), Some(lon), Some(acc)) = (sample.lat, sample.lon, sample.acc) {
                assert!(metres_between((lat, lon), collar.home) < ROAM_LIMIT_M + 50.0 + acc);
            }
        }
    }
}

#[test]
fn seq_is_strictly_increasing() {
    let mut collar = Collar::new(BANGKOK, 1);
    let samples = walk(&mut collar, 1_000, Duration::from_secs(3));
    assert!(samples
        .windows(2)
        .all(|pair| pair[1].seq == pair[0].seq + 1));
    assert!(samples[0].seq < 1 << 53);
}

#[test]
fn every_reading_stays_within_the_protocol_ranges() {
    let mut collar = Collar::new(BANGKOK, 2);
    for sample in walk(&mut collar, 20_000, Duration::from_secs(60)) {
        assert!((1..=400).contains(&sample.hr), "hr {}", sample.hr);
        assert!((37.5..=39.5).contains(&sample.temp), "temp {}", sample.temp);
        assert!(sample.bat <= 100 && sample.steps <= 100_000);
        assert_eq!(sample.lat.is_some(), sample.lon.is_some());
        assert!(sample.acc.is_none_or(|acc| (0.0..=10_000.0).contains(&acc)));
    }
}

#[test]
fn heart_rate_and_steps_follow_the_activity() {
    let mut collar = Collar::new(BANGKOK, 3);
    let samples = walk(&mut collar, 20_000, Duration::from_secs(30));
    let mean_hr = |act| {
        let hrs: Vec<f64> = samples
            .iter()
            .filter(|s| s.act == act)
            .map(|s| f64::from(s.hr))
            .collect();
        assert!(!hrs.is_empty(), "{act:?} never happened");
        hrs.iter().sum::<f64>() / hrs.len() as f64
    };
    assert!(mean_hr(Activity::Sleep) < mean_hr(Activity::Walk));
    assert!(mean_hr(Activity::Walk) < mean_hr(Activity::Run));
    assert!(mean_hr(Activity::Rest) < mean_hr(Activity::Play));
    assert!(samples
        .iter()
        .filter(|s| s.act == Activity::Sleep)
        .all(|s| s.steps == 0 || s.steps < 10));
}

#[test]
fn the_battery_drains_and_recharges_at_five_percent() {
    let mut collar = Collar::new(BANGKOK, 4);
    let levels: Vec<u8> = walk(&mut collar, 2_000, Duration::from_secs(60))
        .iter()
        .map(|s| s.bat)
        .collect();
    assert!(levels.iter().all(|&bat| bat >= 5));
    let recharges = levels
        .windows(2)
        .filter(|pair| pair[0] == 5 && pair[1] == 100)
        .count();
    assert!(recharges >= 2, "{recharges} recharges");
    assert!(levels
        .windows(2)
        .all(|pair| pair[1] <= pair[0] || pair[0] == 5));
}

#[test]
fn the_same_seed_walks_the_same_way() {
    let a = walk(&mut Collar::new(BANGKOK, 5), 100, Duration::from_secs(10));
    let b = walk(&mut Collar::new(BANGKOK, 5), 100, Duration::from_secs(10));
    assert_eq!(a, b);
}

#[test]
fn some_fixes_are_missing_or_inaccurate() {
    let samples = walk(
        &mut Collar::new(BANGKOK, 6),
        10_000,
        Duration::from_secs(10),
    );
    let missing = samples.iter().filter(|s| s.lat.is_none()).count();
    let spikes = samples
        .iter()
        .filter(|s| s.acc.is_some_and(|acc| acc >= 50.0))
        .count();
    assert!((30..300).contains(&missing), "{missing} without a fix");
    assert!((100..400).contains(&spikes), "{spikes} accuracy spikes");
}

#[test]
fn live_samples_carry_v_and_batch_elements_do_not() {
    let mut sample = Collar::new(BANGKOK, 7).step(Duration::from_secs(3), 1_764_151_500_000);
    sample.lat = None;
    sample.lon = None;
    sample.acc = None;
    let live: serde_json::Value = serde_json::from_slice(&json(&LiveSample {
        v: 1,
        sample: &sample,
    }))
    .unwrap();
    assert_eq!(live["v"], 1);
    assert_eq!(live["ts"], 1_764_151_500_000_i64);
    assert!(live.get("lat").is_none() && live.get("acc").is_none());
    let samples = [sample.clone(), sample];
    let batch: serde_json::Value = serde_json::from_slice(&json(&Batch {
        v: 1,
        samples: &samples,
    }))
    .unwrap();
    assert_eq!(batch["v"], 1);
    assert!(batch["samples"][0].get("v").is_none());
    assert!(batch["samples"][1]["act"].is_string());
}

#[test]
fn a_live_sample_looks_like_the_protocol_example() {
    let sample = Collar::new(BANGKOK, 8).step(Duration::from_secs(300), 1_764_151_500_000);
    let text = String::from_utf8(json(&LiveSample {
        v: 1,
        sample: &sample,
    }))
    .unwrap();
    assert!(text.starts_with(r#"{"v":1,"seq":"#), "{text}");
    assert!(text.len() < 200, "{text}");
}

fn control() -> Control {
    Control {
        interval_s: 300,
        lost_mode: false,
    }
}

#[test]
fn set_interval_changes_the_interval_and_acks_ok() {
    let mut control = control();
    let ack = control
        .apply(br#"{"v":1,"id":"a1","cmd":"set_interval","interval_s":3}"#)
        .unwrap();
    assert!(ack.ok);
    assert_eq!(control.interval(), Duration::from_secs(3));
    assert_eq!(
        String::from_utf8(json(&ack)).unwrap(),
        r#"{"v":1,"id":"a1","ok":true}"#
    );
}

#[test]
fn an_interval_out_of_range_is_refused() {
    for bad in ["1", "3601", "-5", "2.5"] {
        let mut control = control();
        let payload = format!(r#"{{"v":1,"id":"x","cmd":"set_interval","interval_s":{bad}}}"#);
        let ack = control.apply(payload.as_bytes()).unwrap();
        assert_eq!(
            String::from_utf8(json(&ack)).unwrap(),
            r#"{"v":1,"id":"x","ok":false,"error":"interval_s out of range"}"#
        );
        assert_eq!(control, self::control());
    }
}

#[test]
fn lost_mode_reports_every_ten_seconds_until_off() {
    let mut control = control();
    assert!(
        control
            .apply(br#"{"v":1,"id":"l","cmd":"lost_mode","on":true}"#)
            .unwrap()
            .ok
    );
    assert_eq!(control.interval(), Duration::from_secs(10));
    assert!(
        control
            .apply(br#"{"v":1,"id":"l","cmd":"lost_mode","on":false}"#)
            .unwrap()
            .ok
    );
    assert_eq!(control.interval(), Duration::from_secs(300));
}

#[test]
fn find_me_is_acked_and_unknown_commands_are_refused() {
    let mut control = control();
    assert!(
        control
            .apply(br#"{"v":1,"id":"f","cmd":"find_me","extra":1}"#)
            .unwrap()
            .ok
    );
    let ack = control
        .apply(br#"{"v":1,"id":"u","cmd":"self_destruct"}"#)
        .unwrap();
    assert_eq!((ack.ok, ack.error), (false, Some("unknown command")));
}

#[test]
fn malformed_commands_are_ignored() {
    let mut control = control();
    for payload in [
        &b"not json"[..],
        br#"{"v":1,"cmd":"find_me"}"#,
        br#"[1,2]"#,
        b"",
    ] {
        assert!(control.apply(payload).is_none());
    }
    assert_eq!(control, self::control());
}

#[test]
fn a_bark_is_one_second_of_audible_16_bit_audio() {
    let pcm = bark_pcm(&mut StdRng::seed_from_u64(9));
    assert_eq!(pcm.len(), 2 * VOICE_RATE_HZ as usize);
    let peak = pcm
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]).unsigned_abs())
        .max();
    assert!(peak.unwrap() > 10_000);
}

#[test]
fn each_collar_connects_under_its_own_serial_with_a_last_will() {
    let broker = Url::parse("mqtt://127.0.0.1:1883?client_id=other&keep_alive_secs=5").unwrap();
    let options = mqtt_options(&broker, "SIM-0001", "p/collars/SIM-0001/status").unwrap();
    assert_eq!(options.client_id(), "SIM-0001");
    assert_eq!(options.broker_address(), ("127.0.0.1".to_owned(), 1883));
    assert_eq!(options.keep_alive(), KEEP_ALIVE);
    let will = options.last_will().unwrap();
    assert_eq!(
        (will.topic.as_str(), will.retain),
        ("p/collars/SIM-0001/status", true)
    );
    assert_eq!(&will.message[..], OFFLINE_STATUS.as_bytes());
}

fn options() -> SimulateOptions {
    SimulateOptions {
        collars: 3,
        broker: "mqtt://127.0.0.1:1883".into(),
        interval_s: 5,
        seconds: Some(1),
        topic_prefix: "pettysync/v1".into(),
        serial_prefix: "SIM-".into(),
        centre: BANGKOK,
        progress: false,
        seed: 1,
    }
}

#[test]
fn serials_are_the_prefix_and_four_digits() {
    let options = options();
    assert_eq!(options.serial(1), "SIM-0001");
    assert!(options.validate().is_ok());
    let bad = SimulateOptions {
        serial_prefix: "SIM/".into(),
        ..options
    };
    assert!(bad.validate().is_err());
}

#[tokio::test]
async fn an_offline_collar_keeps_the_newest_samples_and_counts_the_rest() {
    let counters = Arc::new(Counters::default());
    let broker = Url::parse(&options().broker).unwrap();
    let mut collar = CollarTask::new(&options(), 1, &broker, 1, counters.clone()).unwrap();
    for _ in 0..MAX_BACKLOG + 100 {
        collar.sample();
    }
    assert_eq!(collar.backlog.len(), MAX_BACKLOG);
    assert_eq!(counters.report().samples_dropped, 100);
    assert_eq!(counters.report().samples_sent, 0);
    let seqs: Vec<u64> = collar.backlog.iter().map(|s| s.seq).collect();
    assert!(seqs.windows(2).all(|pair| pair[1] == pair[0] + 1));
}
