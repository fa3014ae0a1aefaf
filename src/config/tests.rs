//! Unit tests of the settings added for abuse resistance and for ingest.

use super::*;

fn settings_with(key: &str, value: impl Serialize) -> Result<Settings, ConfigError> {
    Settings::defaults_with(key, value)
}

#[test]
fn trusted_proxies_are_a_comma_separated_list_of_networks_and_addresses() {
    let settings = settings_with("trusted_proxies", "10.0.0.0/8, 192.168.1.7,fd00::/8")
        .expect("the list parses");
    let proxies = settings.trusted_proxies;
    assert!(proxies.contains("10.200.0.1".parse().unwrap()));
    assert!(proxies.contains("192.168.1.7".parse().unwrap()));
    assert!(!proxies.contains("192.168.1.8".parse().unwrap()));
    assert!(proxies.contains("fd00::1".parse().unwrap()));
    assert!(proxies.contains("::ffff:10.1.2.3".parse().unwrap()));
    assert!(!proxies.contains("2001:db8::1".parse().unwrap()));
}

#[test]
fn no_proxy_is_trusted_by_default() {
    let settings = settings_with("log", "info").expect("the defaults are valid");
    assert!(settings.trusted_proxies.is_empty());
    assert!(settings.hash_concurrency() >= DEFAULT_HASHES_PER_CORE);
    assert_eq!(
        settings.auth_attempts_per_minute,
        DEFAULT_AUTH_ATTEMPTS_PER_MINUTE
    );
}

#[test]
fn a_bad_trusted_proxy_names_the_setting() {
    let error = settings_with("trusted_proxies", "10.0.0.0/8, proxy.internal")
        .err()
        .expect("a host name is not a network");
    assert_eq!(error.setting, "PETTYSYNC_TRUSTED_PROXIES");
    assert!(error.message.contains("proxy.internal"), "{error}");
    let error = settings_with("trusted_proxies", 1)
        .err()
        .expect("a number is no network");
    assert_eq!(error.setting, "PETTYSYNC_TRUSTED_PROXIES");
    assert!(error.message.contains("neither"), "{error}");
}

#[test]
fn a_short_admin_token_names_the_setting() {
    let error = settings_with("admin_token", "x".repeat(MIN_ADMIN_TOKEN_BYTES - 1))
        .err()
        .expect("31 bytes are too few");
    assert_eq!(error.setting, "PETTYSYNC_ADMIN_TOKEN");
    settings_with("admin_token", "x".repeat(MIN_ADMIN_TOKEN_BYTES)).expect("32 bytes are enough");
}

#[test]
fn zero_sign_in_limits_are_refused() {
    let error = settings_with("password_hash_concurrency", 0).err();
    assert_eq!(
        error.map(|e| e.setting).as_deref(),
        Some("PETTYSYNC_PASSWORD_HASH_CONCURRENCY")
    );
    let error = settings_with("auth_attempts_per_minute", 0).err();
    assert_eq!(
        error.map(|e| e.setting).as_deref(),
        Some("PETTYSYNC_AUTH_ATTEMPTS_PER_MINUTE")
    );
}

#[test]
fn an_mqtt_keep_alive_rumqttc_refuses_names_the_setting() {
    let error = settings_with("mqtt_keep_alive_s", 4).err();
    assert_eq!(
        error.map(|e| e.setting).as_deref(),
        Some("PETTYSYNC_MQTT_KEEP_ALIVE_S")
    );
    settings_with("mqtt_keep_alive_s", 5).expect("5 s is the least");
}

#[test]
fn roll_ups_run_every_minute_unless_set_and_never_every_zero_seconds() {
    let settings = settings_with("log", "info").expect("the defaults are valid");
    assert_eq!(settings.rollup_interval_s, DEFAULT_ROLLUP_INTERVAL_S);
    let error = settings_with("rollup_interval_s", 0)
        .err()
        .expect("0 s is refused");
    assert_eq!(error.setting, "PETTYSYNC_ROLLUP_INTERVAL_S");
}

#[test]
fn mood_retraining_waits_for_fifty_corrections_unless_set_and_the_endpoint_is_an_http_url() {
    let settings = settings_with("log", "info").expect("the defaults are valid");
    assert_eq!(
        settings.mood_retrain_min_corrections,
        DEFAULT_MOOD_RETRAIN_MIN_CORRECTIONS
    );
    assert_eq!(settings.mood_endpoint, None);
    let setting = |e: Result<Settings, ConfigError>| e.err().map(|e| e.setting);
    assert_eq!(
        setting(settings_with("mood_retrain_min_corrections", 0)).as_deref(),
        Some("PETTYSYNC_MOOD_RETRAIN_MIN_CORRECTIONS")
    );
    assert_eq!(
        setting(settings_with("mood_retrain_interval_s", 0)).as_deref(),
        Some("PETTYSYNC_MOOD_RETRAIN_INTERVAL_S")
    );
    for bad in ["ftp://models/mood", "not a url"] {
        assert_eq!(
            setting(settings_with("mood_endpoint", bad)).as_deref(),
            Some("PETTYSYNC_MOOD_ENDPOINT")
        );
    }
    let settings = settings_with("mood_endpoint", "https://inference.example/mood")
        .expect("an https URL is taken");
    assert_eq!(
        settings.mood_endpoint.as_deref(),
        Some("https://inference.example/mood")
    );
}
